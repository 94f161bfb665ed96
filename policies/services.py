"""Every write and transition of a policy (SPEC §2.3).

The transitions are declared once, in POLICY_TRANSITIONS at the end of this module (anything else is a 409).
They follow one pattern: lock the row, check the row's permission and allowed-from set, return unchanged when
the policy is already where the caller wants it, mutate, full_clean, save(update_fields), record the event.
policy_set_status picks the row leading to a requested status (the API's PATCH); the admin builds its buttons
and actions from the same rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from customers.models import Customer
from policies import tasks
from policies.events import policy_event_record
from policies.models import Policy, PolicyEvent
from vanguard.accounts.permissions import require, require_any
from vanguard.core.dates import MAX_YEAR, OUT_OF_RANGE, year_in_range
from vanguard.core.errors import BusinessRuleViolation, Conflict, DomainError, TransitionNotAllowed, validate_all
from vanguard.core.money import format_money
from vanguard.core.numbers import save_with_unique_number
from vanguard.core.prepared import PreparedGet
from vanguard.core.transitions import Transition, TransitionTable
from vanguard.outbox.services import outbox_enqueue

if TYPE_CHECKING:
    from vanguard.accounts.models import User

S = Policy.Status
AUDIT_INTERVAL = dt.timedelta(days=365)

logger = logging.getLogger(__name__)


def minimum_premium(policy_type: str) -> Decimal:
    return settings.MINIMUM_PREMIUMS.get(policy_type, Decimal("100.00"))


def _check_premium(policy_type: str, premium: Decimal) -> None:
    if premium is not None and premium > 0 and premium < minimum_premium(policy_type):
        raise BusinessRuleViolation(
            f"The premium {format_money(premium)} is below the minimum of "
            f"{format_money(minimum_premium(policy_type))} for {policy_type} policies.",
            field="premium_amount",
        )


def _check_positive(**amounts: Decimal | None) -> None:
    """Premium and coverage > 0 (the DB checks it too; this gives the 422 instead of an IntegrityError)."""
    errors = {
        name: ["Must be greater than zero."] for name, value in amounts.items() if value is not None and value <= 0
    }
    if errors:
        raise ValidationError(errors)


def initial_status(start_date: dt.datetime, *, now: dt.datetime | None = None) -> str:
    """Active when the term starts today or earlier (back-dated business is normal), pending when it
    starts on a later day. "Today" is the local calendar day, so a policy starting this evening is active."""
    now = now or timezone.now()
    return S.ACTIVE if timezone.localdate(start_date) <= timezone.localdate(now) else S.PENDING


def _check_dates(start: dt.datetime, end: dt.datetime) -> None:
    errors = {
        name: [f"The {name.replace('_', ' ')} {OUT_OF_RANGE}."]
        for name, value in (("start_date", start), ("end_date", end))
        if value and not year_in_range(value)
    }
    if errors:
        raise ValidationError(errors)
    if start and end and end <= start:
        raise ValidationError({"end_date": ["The end date must be after the start date."]})


def _check_stored_order(start: dt.datetime, end: dt.datetime) -> None:
    """An end date checked against a start the policy already has (an amendment, a renewal's default start):
    a rule on stored data, which no request schema can state, so a 400 rather than a 422 (SPEC §3)."""
    if end <= start:
        raise BusinessRuleViolation("The end date must be after the policy's start date.", field="end_date")


def _lock(policy_id: UUID) -> Policy:
    return _LOCKED.get(policy_id)


_LOCKED = PreparedGet(lambda: Policy.objects.lock_for_update())


def _row(name: str) -> Transition:
    return POLICY_TRANSITIONS[name]


def _refuse(policy: Policy, row: Transition) -> TransitionNotAllowed:
    return TransitionNotAllowed.for_status(policy.get_status_display(), "policy", row.verb)


def _save(policy: Policy, fields: list[str]) -> None:
    # Field rules only: the constraints are the database's to check on save (Django would run one query per
    # constraint here); every rule they back was checked above with its own message.
    policy.full_clean(validate_unique=False, validate_constraints=False)
    policy.save(update_fields=[*fields, "updated_at"])


def _notify(policy: Policy) -> None:
    # An outbox row in this transaction, drained by a worker: no broker call in the request, none lost.
    outbox_enqueue(tasks.notify_policy_status, policy_id=str(policy.pk))


@transaction.atomic
def policy_create(
    *,
    actor: User,
    customer_id: UUID,
    policy_type: str,
    premium_amount: Decimal,
    coverage_amount: Decimal,
    start_date: dt.datetime,
    end_date: dt.datetime,
    renewal_of: Policy | None = None,
) -> Policy:
    """Write a new policy: active when it starts today or earlier (back-dated business is normal),
    pending when it starts on a later day. Premium and coverage must be positive and the end after the
    start (422); the premium must meet its type's minimum (400); an erased customer or one whose consent
    was withdrawn cannot take out new business (409/400); the customer row is locked for that check.
    Records a `created` event.
    """
    require(actor, "policies.add_policy", "create policies")
    # Locked so that an erasure or a consent withdrawal running now either commits first (and is seen
    # here) or waits for this policy: never new business for a customer erased in the meantime.
    customer = (
        Customer.objects.select_for_update(no_key=True).only("pk", "erased_at", "gdpr_consent").get(pk=customer_id)
    )
    if customer.is_erased:
        raise Conflict("This customer's personal data was erased; no new policies can be written.")
    if not customer.gdpr_consent:
        raise BusinessRuleViolation("The customer has withdrawn GDPR consent; no new policies can be written.")
    validate_all(
        lambda: _check_positive(premium_amount=premium_amount, coverage_amount=coverage_amount),
        lambda: _check_dates(start_date, end_date),
    )
    policy = Policy(
        customer=customer,
        policy_type=policy_type,
        premium_amount=premium_amount,
        coverage_amount=coverage_amount,
        start_date=start_date,
        end_date=end_date,
        status=initial_status(start_date) if start_date else S.PENDING,
        renewal_of=renewal_of,
    )
    # The number is drawn on save (retried on a collision); the constraints are the database's to check there.
    policy.full_clean(exclude=["policy_number"], validate_unique=False, validate_constraints=False)
    _check_premium(policy_type, premium_amount)
    save_with_unique_number(policy, field="policy_number", prefix="POL", save=lambda p: p.save())
    policy_event_record(
        policy=policy,
        actor=actor,
        kind=PolicyEvent.Kind.CREATED,
        to_status=policy.status,
        data={"renewal_of": str(renewal_of.pk)} if renewal_of else {},
    )
    return policy


@transaction.atomic
def policy_update(
    *,
    actor: User,
    policy_id: UUID,
    premium_amount: Decimal | None = None,
    coverage_amount: Decimal | None = None,
    end_date: dt.datetime | None = None,
    status: str | None = None,
    reason: str = "",
    effective_date: dt.datetime | None = None,
) -> Policy:
    """One change to a policy, in one transaction: the amendments given (premium, coverage, end date), then,
    with `status`, the transition (policy_set_status, with `reason` and `effective_date`). A refused transition
    undoes the amendments sent with it.

    Amendments lock the policy. Money changes only while pending or active; cancelled and expired policies are
    closed to edits (409). The new premium must still meet the minimum (400). Records an `updated` event with
    old and new values; returns the policy unchanged when nothing differs.

    A caller who may neither amend policies nor change their status is refused (403) whatever the
    request holds, an empty or a no-op change included: the answer to who may write does not depend on the body,
    and it comes before the API's If-Match check (412), as every other refusal does.
    """
    require_any(actor, {"policies.change_policy", *POLICY_TRANSITIONS.status_permissions}, "change policies")
    policy = None
    if premium_amount is not None or coverage_amount is not None or end_date is not None:
        policy = _amend(
            actor=actor,
            policy_id=policy_id,
            premium_amount=premium_amount,
            coverage_amount=coverage_amount,
            end_date=end_date,
        )
    if status is not None:
        policy = policy_set_status(
            actor=actor, policy_id=policy_id, status=status, reason=reason, effective_date=effective_date
        )
    return policy if policy is not None else _lock(policy_id)


def _amend(
    *,
    actor: User,
    policy_id: UUID,
    premium_amount: Decimal | None,
    coverage_amount: Decimal | None,
    end_date: dt.datetime | None,
) -> Policy:
    require(actor, "policies.change_policy", "change policies")
    _check_positive(premium_amount=premium_amount, coverage_amount=coverage_amount)
    policy = _lock(policy_id)
    changes = {
        name: value
        for name, value in {
            "premium_amount": premium_amount,
            "coverage_amount": coverage_amount,
            "end_date": end_date,
        }.items()
        if value is not None and getattr(policy, name) != value
    }
    if not changes:
        return policy
    if policy.status in Policy.TERMINAL_STATUSES:
        raise TransitionNotAllowed(f"A {policy.get_status_display().lower()} policy can no longer be changed.")
    if ({"premium_amount", "coverage_amount"} & changes.keys()) and policy.status not in Policy.AMENDABLE_STATUSES:
        raise TransitionNotAllowed(
            f"Premium and coverage can change only while a policy is pending or active, not {policy.status}."
        )
    before = {name: str(getattr(policy, name)) for name in changes}
    for name, value in changes.items():
        setattr(policy, name, value)
    _check_stored_order(policy.start_date, policy.end_date)
    _check_dates(policy.start_date, policy.end_date)
    if "premium_amount" in changes:
        _check_premium(policy.policy_type, policy.premium_amount)
    _save(policy, list(changes))
    policy_event_record(
        policy=policy,
        actor=actor,
        kind=PolicyEvent.Kind.UPDATED,
        data={name: {"from": before[name], "to": str(value)} for name, value in changes.items()},
    )
    return policy


@transaction.atomic
def policy_set_status(
    *, actor: User, policy_id: UUID, status: str, reason: str = "", effective_date: dt.datetime | None = None
) -> Policy:
    """Move a policy to `status` through the row of POLICY_TRANSITIONS that leads there from its current status
    (active: issue a pending policy, or reinstate an inactive one), with the inputs that row's service takes
    (`reason`; `effective_date` for a cancellation).

    Locks the policy (404 when missing). A policy already in `status` is returned as it is, whoever asks (the
    API always answered so). Otherwise checks the row's permission (403) and allowed-from set (409, the service's
    own words) and calls its service. Pending is never a target."""
    policy = _lock(policy_id)
    if policy.status == status:
        return policy
    row = POLICY_TRANSITIONS.leading_to(status, current=policy.status)
    if row is None:
        raise TransitionNotAllowed(f"A policy cannot be moved back to {status}.")
    require(actor, row.permission, row.may)
    if not row.allows(policy.status):
        raise _refuse(policy, row)
    inputs = row.accepted({"reason": reason, "effective_date": effective_date})
    return row.service(actor=actor, policy_id=policy.pk, **inputs)


def _transition(
    *,
    actor: User,
    policy_id: UUID,
    row: Transition,
    kind: str,
    reason: str = "",
    extra_fields: dict[str, Any] | None = None,
) -> Policy:
    require(actor, row.permission, row.may)
    policy = _lock(policy_id)
    if policy.status == row.target:
        return policy
    if not row.allows(policy.status):
        raise _refuse(policy, row)
    previous = policy.status
    policy.status = row.target
    for name, value in (extra_fields or {}).items():
        setattr(policy, name, value)
    _save(policy, ["status", *(extra_fields or {})])
    policy_event_record(
        policy=policy,
        actor=actor,
        kind=kind,
        from_status=previous,
        to_status=row.target,
        reason=reason,
        data={name: str(value) for name, value in (extra_fields or {}).items()},
    )
    _notify(policy)
    return policy


@transaction.atomic
def policy_issue(*, actor: User, policy_id: UUID) -> Policy:
    """pending → active. Repeating it on an active policy changes nothing."""
    return _transition(actor=actor, policy_id=policy_id, row=_row("issue"), kind=PolicyEvent.Kind.ISSUED)


@transaction.atomic
def policy_suspend(*, actor: User, policy_id: UUID, reason: str = "") -> Policy:
    """active → inactive."""
    return _transition(
        actor=actor, policy_id=policy_id, row=_row("suspend"), kind=PolicyEvent.Kind.SUSPENDED, reason=reason
    )


@transaction.atomic
def policy_reinstate(*, actor: User, policy_id: UUID, reason: str = "") -> Policy:
    """inactive → active."""
    return _transition(
        actor=actor, policy_id=policy_id, row=_row("reinstate"), kind=PolicyEvent.Kind.REINSTATED, reason=reason
    )


@transaction.atomic
def policy_cancel(*, actor: User, policy_id: UUID, reason: str, effective_date: dt.datetime | None = None) -> Policy:
    """pending|active|inactive → cancelled, with a reason (required, 422) and an effective date (default
    now). Locks the policy, so a claim being filed on it at the same moment either commits first or sees
    the cancellation. Repeating it on a cancelled policy changes nothing."""
    row = _row("cancel")
    require(actor, row.permission, row.may)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["A cancellation reason is required."]})
    return _transition(
        actor=actor,
        policy_id=policy_id,
        row=row,
        kind=PolicyEvent.Kind.CANCELLED,
        reason=reason,
        extra_fields={"cancellation_reason": reason, "cancelled_at": effective_date or timezone.now()},
    )


@transaction.atomic
def policy_expire(*, actor: User, policy_id: UUID) -> Policy:
    """active → expired once the end date has passed (the daily job). Early expiry is refused (400).
    Repeating it on an expired policy changes nothing."""
    row = _row("expire")
    require(actor, row.permission, row.may)
    policy = _lock(policy_id)
    if policy.status == S.ACTIVE and policy.end_date > timezone.now():
        raise BusinessRuleViolation("A policy expires only after its end date has passed.")
    return _transition(actor=actor, policy_id=policy_id, row=row, kind=PolicyEvent.Kind.EXPIRED)


def policies_expire_due(*, actor: User, now: dt.datetime | None = None, batch_size: int = 500) -> int:
    """Expire every active policy whose end date has passed, one short transaction per policy.

    Walks the due policies in primary-key order with a cursor, so a policy that cannot be expired (changed
    by someone else meanwhile) is logged and skipped instead of stopping the run or being retried forever.
    Returns how many policies this run expired; a second run finds none. `now` may only move the cut-off
    back (a policy never expires before its end date).
    """
    cutoff = min(now or timezone.now(), timezone.now())
    expired, after = 0, None
    while True:
        due = Policy.objects.filter(status=S.ACTIVE, end_date__lt=cutoff)
        if after is not None:
            due = due.filter(pk__gt=after)
        ids = list(due.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return expired
        for policy_id in ids:
            try:
                policy_expire(actor=actor, policy_id=policy_id)
                expired += 1
            except DomainError as exc:
                logger.warning("policy not expired", extra={"policy_id": str(policy_id), "reason": str(exc)})
        after = ids[-1]


@transaction.atomic
def policy_renew(
    *,
    actor: User,
    policy_id: UUID,
    start_date: dt.datetime | None = None,
    end_date: dt.datetime | None = None,
    premium_amount: Decimal | None = None,
    coverage_amount: Decimal | None = None,
) -> Policy:
    """active|expired → a new term as a new policy (`renewal_of` set; the old one keeps its status).

    Locks the old policy. Default term: starts when the old one ends and lasts as long; premium and
    coverage carry over unless given. Records `renewed` on the old policy and `created` on the new one.
    Renewing the same term twice returns the existing renewal instead of writing a second one.
    """
    row = _row("renew")
    require(actor, row.permission, row.may)
    policy = _lock(policy_id)
    if not row.allows(policy.status):
        raise _refuse(policy, row)
    start = start_date or policy.end_date
    end = end_date or (start + (policy.end_date - policy.start_date))
    if start_date is None:  # the start is the stored end: its order with a given end is a stored-data rule
        _check_stored_order(start, end)
    if end_date is None and not year_in_range(end):
        # The default end comes from the stored term, not from the request: a 400 on stored data, not a 422 on a
        # field the caller did not send (a term ending in 2999 renewed by its own length).
        raise BusinessRuleViolation(
            f"The renewed term would end on {end:%Y-%m-%d}, after the year {MAX_YEAR}; give an end date.",
            field="end_date",
        )
    existing = Policy.objects.filter(renewal_of=policy, start_date=start).first()
    if existing is not None:
        return existing
    renewal = policy_create(
        actor=actor,
        customer_id=policy.customer_id,
        policy_type=policy.policy_type,
        premium_amount=premium_amount if premium_amount is not None else policy.premium_amount,
        coverage_amount=coverage_amount if coverage_amount is not None else policy.coverage_amount,
        start_date=start,
        end_date=end,
        renewal_of=policy,
    )
    policy_event_record(
        policy=policy,
        actor=actor,
        kind=PolicyEvent.Kind.RENEWED,
        from_status=policy.status,
        to_status=policy.status,
        data={"renewal_id": str(renewal.pk), "renewal_number": renewal.policy_number},
    )
    _notify(renewal)
    return renewal


@transaction.atomic
def policy_record_audit(
    *, actor: User, policy_id: UUID, outcome: str = Policy.ComplianceStatus.COMPLIANT, note: str = ""
) -> Policy:
    """A compliance officer records a policy audit: locks the policy, sets last_audit_date and the
    compliance status, and records an `audited` event. Allowed in any status (audits look at history)."""
    row = _row("audit")
    require(actor, row.permission, row.may)
    if outcome not in Policy.ComplianceStatus.values:
        raise ValidationError({"compliance_status": [f"Unknown compliance status {outcome!r}."]})
    policy = _lock(policy_id)
    previous = policy.compliance_status
    policy.compliance_status, policy.last_audit_date = outcome, timezone.now()
    _save(policy, ["compliance_status", "last_audit_date"])
    policy_event_record(
        policy=policy, actor=actor, kind=PolicyEvent.Kind.AUDITED, reason=note, data={"from": previous, "to": outcome}
    )
    return policy


def _audit_overdue(cutoff: dt.datetime) -> Q:
    # A policy never audited is overdue once it has existed for a full interval without an audit.
    return Q(last_audit_date__lt=cutoff) | Q(last_audit_date__isnull=True, created_at__lt=cutoff)


def _is_audit_overdue(policy: Policy, cutoff: dt.datetime) -> bool:
    last = policy.last_audit_date if policy.last_audit_date is not None else policy.created_at
    return policy.compliance_status == Policy.ComplianceStatus.COMPLIANT and last < cutoff


def policies_flag_for_review(*, actor: User, now: dt.datetime | None = None, batch_size: int = 500) -> int:
    """Flag compliant policies whose last audit is over 365 days old (or that were never audited and are
    over a year old) as review_required, one locked, audited save per policy with a `flagged` event (no bulk
    update bypassing the trail). Non-compliant policies keep their worse status. A second run flags none.
    """
    now = now or timezone.now()
    cutoff = now - AUDIT_INTERVAL
    due = Policy.objects.filter(compliance_status=Policy.ComplianceStatus.COMPLIANT).filter(_audit_overdue(cutoff))
    flagged = 0
    while True:
        ids = list(due.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return flagged
        for policy_id in ids:
            with transaction.atomic():
                policy = _lock(policy_id)
                # Re-checked under the lock: an audit recorded meanwhile wins over the stale selection.
                if not _is_audit_overdue(policy, cutoff):
                    continue
                policy.compliance_status = Policy.ComplianceStatus.REVIEW_REQUIRED
                _save(policy, ["compliance_status"])
                policy_event_record(
                    policy=policy,
                    actor=actor,
                    kind=PolicyEvent.Kind.FLAGGED,
                    data={"last_audit_date": str(policy.last_audit_date)},
                )
                flagged += 1


# --- the transition table ---------------------------------------------------------------------------------------
# Every operation a policy's status allows, in the order the admin offers them. A new transition is a row here and
# its service (and, when it asks for input, a TransitionForm in policies/forms.py): the services,
# policy_set_status (the API) and the admin's buttons, pages, actions and permission checks all read it.
POLICY_TRANSITIONS = TransitionTable(
    Transition(
        "issue",
        "Issue…",
        "policies.transition_policy",
        frozenset({S.PENDING}),
        S.ACTIVE,
        policy_issue,
        may="change the status of policies",
        verb="issued",
        form="vanguard.forms.ConfirmForm",
        submit="Issue policy",
        submit_many="Issue policies",
        done="{obj} issued.",
        action="issue_policies",
        action_label="Issue selected pending policies",
        done_many="issued",
        note="Issuing makes the policy active; the customer is notified.",
    ),
    Transition(
        "suspend",
        "Suspend…",
        "policies.transition_policy",
        frozenset({S.ACTIVE}),
        S.INACTIVE,
        policy_suspend,
        may="change the status of policies",
        verb="suspended",
        form="vanguard.forms.ConfirmForm",
        submit="Suspend policy",
        submit_many="Suspend policies",
        done="{obj} suspended.",
        action="suspend_policies",
        action_label="Suspend selected policies",
        done_many="suspended",
        note="Suspending makes the policy inactive until it is reinstated.",
    ),
    Transition(
        "reinstate",
        "Reinstate",
        "policies.transition_policy",
        frozenset({S.INACTIVE}),
        S.ACTIVE,
        policy_reinstate,
        may="change the status of policies",
        verb="reinstated",
        done="{obj} reinstated.",
        action="reinstate_policies",
        action_label="Reinstate selected policies",
        done_many="reinstated",
    ),
    Transition(
        "cancel",
        "Cancel…",
        "policies.transition_policy",
        frozenset({S.PENDING, S.ACTIVE, S.INACTIVE}),
        S.CANCELLED,
        policy_cancel,
        may="cancel policies",
        verb="cancelled",
        form="policies.forms.CancelForm",
        submit="Cancel policy",
        submit_many="Cancel policies",
        done="{obj} cancelled.",
        action="cancel_policies",
        action_label="Cancel selected policies…",
        done_many="cancelled",
        note="Cancelling ends cover from the effective date; this cannot be undone.",
    ),
    # The daily job's (policies.tasks.expire_policies) and the API's: no button in the back office.
    Transition(
        "expire",
        "",
        "policies.transition_policy",
        frozenset({S.ACTIVE}),
        S.EXPIRED,
        policy_expire,
        may="expire policies",
        verb="expired",
    ),
    Transition(
        "renew",
        "Renew…",
        "policies.transition_policy",
        frozenset({S.ACTIVE, S.EXPIRED}),
        None,
        policy_renew,
        may="renew policies",
        verb="renewed",
        form="vanguard.forms.ConfirmForm",
        submit="Renew policy",
        submit_many="Renew policies",
        done="{obj} renewed as {result}.",
        action="renew_policies",
        action_label="Renew selected policies (next term)",
        done_many="renewed",
        note="Renewing writes a new policy for the next term, with the same premium and coverage, starting when "
        "this one ends.",
    ),
    Transition(
        "audit",
        "Record compliance audit…",
        "policies.audit_policy",
        None,
        None,
        policy_record_audit,
        may="record policy audits",
        form="policies.forms.AuditForm",
        submit="Record audit",
        done="{obj}: compliance audit recorded.",
        action="record_audit",
        action_label="Record compliance audit…",
        done_many="audit recorded",
    ),
    record_id="policy_id",
)
