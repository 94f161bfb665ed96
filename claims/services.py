"""Every write and transition of a claim (SPEC §2.4, §2.5).

The transitions are declared once, in CLAIM_TRANSITIONS at the end of this module (anything else is a 409):
    pending    → processing | approved | denied
    processing → approved | denied
    approved   → paid
    paid       → closed
    denied     → closed
    denied | closed → processing   (reopen, managers only)
Each service reads its permission and allowed-from set from its row; claim_set_status picks the row leading
to a requested status (the API's PATCH); the admin builds its buttons and actions from the same rows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, BinaryIO
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from claims import tasks
from claims.documents import inspect_upload
from claims.events import claim_event_record
from claims.financials import services as financials
from claims.models import Claim, ClaimDocument, ClaimEvent
from policies.models import Policy
from policies.selectors import CUSTOMER_SUMMARY_FIELDS
from vanguard.accounts.authority import authority_limit
from vanguard.accounts.permissions import can, require, require_any
from vanguard.core.errors import AuthorityExceeded, BusinessRuleViolation, TransitionNotAllowed
from vanguard.core.money import format_money
from vanguard.core.numbers import save_with_unique_number
from vanguard.core.prepared import PreparedGet
from vanguard.core.transitions import Transition, TransitionTable
from vanguard.outbox.services import outbox_enqueue

if TYPE_CHECKING:
    from vanguard.accounts.models import User

S = Claim.Status
# Not a transition: the statuses in which the description may still be edited.
EDITABLE = frozenset({S.PENDING, S.PROCESSING})
_UNCHANGED: Any = object()  # claim_update's "leave the assignee as it is" (None unassigns)


def _lock(claim_id: UUID) -> Claim:
    return financials.lock_claim(claim_id)


def _row(name: str) -> Transition:
    return CLAIM_TRANSITIONS[name]


def _refuse(claim: Claim, row: Transition) -> TransitionNotAllowed:
    return TransitionNotAllowed.for_status(claim.get_status_display(), "claim", row.verb)


def _save(claim: Claim, fields: list[str]) -> None:
    # Field rules only: the constraints are the database's to check on save (Django would run one query per
    # constraint here); every rule they back was checked above with its own message.
    claim.full_clean(validate_unique=False, validate_constraints=False)
    claim.save(update_fields=[*fields, "updated_at"])


def _notify(claim: Claim) -> None:
    # An outbox row in this transaction, drained by a worker: no broker call in the request, none lost.
    outbox_enqueue(tasks.notify_claim_status, claim_id=str(claim.pk))


def _status_changed(claim: Claim, *, actor: User, previous: str, reason: str = "", data: dict | None = None) -> None:
    claim_event_record(
        claim=claim,
        actor=actor,
        kind=ClaimEvent.Kind.STATUS_CHANGED,
        from_status=previous,
        to_status=claim.status,
        reason=reason,
        data=data,
    )
    _notify(claim)


def _check_amount_and_term(policy: Policy, amount: Decimal, incident_date: dt.datetime) -> None:
    if amount > policy.coverage_amount:
        raise BusinessRuleViolation(
            f"The claim amount {format_money(amount)} exceeds the policy's coverage of "
            f"{format_money(policy.coverage_amount)}.",
            field="claim_amount",
        )
    if not (policy.start_date <= incident_date <= policy.end_date):
        raise BusinessRuleViolation(
            f"The incident date falls outside the policy term ({policy.start_date:%Y-%m-%d} to "
            f"{policy.end_date:%Y-%m-%d}).",
            field="incident_date",
        )


# Compiled once per connection (vanguard.core.prepared): the lock every claim creation takes.
_POLICY_LOCKED_WITH_SUMMARY = PreparedGet(
    lambda: (
        Policy.objects.lock_for_update()
        .select_related("customer")
        .only(
            *(f.name for f in Policy._meta.concrete_fields), *(f"customer__{name}" for name in CUSTOMER_SUMMARY_FIELDS)
        )
    )
)


@transaction.atomic
def claim_create(
    *,
    actor: User,
    policy_id: UUID,
    claim_type: str,
    claim_amount: Decimal,
    incident_date: dt.datetime,
    description: str = "",
) -> Claim:
    """File a claim against an active, inactive or expired policy (400 otherwise).

    The amount must be positive and the incident not in the future (422); the incident must fall inside
    the policy term and the amount cannot exceed the coverage (400). Locks the policy row (the same lock
    a cancellation takes), so a claim and a cancellation of its policy are serialised: the claim either
    commits before the cancel or sees the policy cancelled. Records a `created` event; notifies after commit.
    """
    require(actor, "claims.add_claim", "file claims")
    now = timezone.now()
    errors = {}
    if claim_amount is not None and claim_amount <= 0:
        errors["claim_amount"] = ["The claim amount must be greater than zero."]
    if incident_date and incident_date > now:
        errors["incident_date"] = ["The incident date cannot be in the future."]
    if errors:
        raise ValidationError(errors)  # both at once
    # With the customer's summary columns (never its encrypted PII): the response shows them, and reading them
    # here saves the endpoint a second read of what this transaction just wrote (claims.selectors.new_claim_row).
    policy = _POLICY_LOCKED_WITH_SUMMARY.get(policy_id)
    if policy.status not in Policy.CLAIMABLE_STATUSES:
        raise BusinessRuleViolation(
            f"Claims cannot be filed against a {policy.get_status_display().lower()} policy.", field="policy_id"
        )
    # The values as the database will hold them (cents, UTC), so the claim returned is the claim
    # stored: its event records the same amount, and the endpoint renders it without reading it back.
    claim = Claim(
        policy=policy,
        claim_type=claim_type,
        claim_amount=None if claim_amount is None else Decimal(claim_amount).quantize(Decimal("0.01")),
        incident_date=incident_date.astimezone(dt.UTC) if incident_date else incident_date,
        description=description or "",
        reported_date=now,
        created_by=actor if actor and actor.pk else None,
    )
    # The number is drawn on save (retried on a collision); the constraints are the database's to check there.
    # The policy was just locked and the actor is the authenticated caller: validating those foreign keys would
    # only query for rows we hold. The constraints are the database's to check on save.
    claim.full_clean(
        exclude=["claim_number", "policy", "created_by"], validate_unique=False, validate_constraints=False
    )
    _check_amount_and_term(policy, claim_amount, incident_date)
    # SPEC §10.1: a new claim is expected to cost what is claimed, its initial indemnity reserve (the totals are
    # written with the claim; the reserve change that says so right after it).
    claim.reserve_indemnity = claim.gross_incurred = claim.net_incurred = claim.claim_amount
    save_with_unique_number(claim, field="claim_number", prefix="CLM", save=lambda c: c.save())
    financials.initial_reserve(claim=claim, actor=actor)
    claim_event_record(
        claim=claim,
        actor=actor,
        kind=ClaimEvent.Kind.CREATED,
        to_status=claim.status,
        data={"amount": str(claim.claim_amount), "reserve_indemnity": str(claim.claim_amount)},
    )
    _notify(claim)
    return claim


# The permissions of claim_update's parts other than the status: the description, taking and assigning.
_UPDATE_PERMISSIONS = frozenset({"claims.change_claim", "claims.process_claim", "claims.assign_claim"})


@transaction.atomic
def claim_update(
    *,
    actor: User,
    claim_id: UUID,
    description: str | None = None,
    assignee_id: UUID | None = _UNCHANGED,
    status: str | None = None,
    approved_amount: Decimal | None = None,
    decision_reason: str | None = None,
) -> Claim:
    """One change to a claim, in one transaction, each part only when given: the description while pending or
    processing (409 after a decision), the assignee (claim_assign; None unassigns) and the status
    (claim_set_status, with `approved_amount` and `decision_reason`). A refused part undoes the others.

    A caller who may do none of these parts is refused (403) whatever the request holds, an empty or a no-op
    change included, before the API's If-Match check (412)."""
    require_any(actor, _UPDATE_PERMISSIONS | CLAIM_TRANSITIONS.status_permissions, "change claims")
    claim = None
    if description is not None:
        claim = _describe(actor=actor, claim_id=claim_id, description=description)
    if assignee_id is not _UNCHANGED:
        claim = claim_assign(actor=actor, claim_id=claim_id, assignee_id=assignee_id)
    if status is not None:
        claim = claim_set_status(
            actor=actor, claim_id=claim_id, status=status, amount=approved_amount, reason=decision_reason or ""
        )
    return claim if claim is not None else _lock(claim_id)


def _describe(*, actor: User, claim_id: UUID, description: str) -> Claim:
    require(actor, "claims.change_claim", "change claims")
    claim = _lock(claim_id)
    if description == claim.description:
        return claim
    if claim.status not in EDITABLE:
        raise TransitionNotAllowed(f"A {claim.get_status_display().lower()} claim can no longer be edited.")
    claim.description = description
    _save(claim, ["description"])
    claim_event_record(claim=claim, actor=actor, kind=ClaimEvent.Kind.UPDATED, data={"fields": ["description"]})
    return claim


@transaction.atomic
def claim_set_status(
    *, actor: User, claim_id: UUID, status: str, amount: Decimal | None = None, reason: str = ""
) -> Claim:
    """Move a claim to `status` through the row of CLAIM_TRANSITIONS that leads there from its current status
    (processing: start, or reopen a denied or closed claim), with the inputs that row's service takes
    (`amount` and `reason` as the note for an approval, `reason` for a denial, a closure or a reopening).

    Locks the claim (404 when missing), then checks the row's permission (403) and allowed-from set (409, the
    service's own words) and calls its service. A claim already in `status` is the service's to judge: returned
    unchanged, or refused when the data differ (an approval for another amount). Pending is never a target."""
    claim = _lock(claim_id)
    row = CLAIM_TRANSITIONS.leading_to(status, current=claim.status)
    if row is None:
        if claim.status == status:
            return claim
        raise TransitionNotAllowed(f"A claim cannot be moved back to {status}.")
    if claim.status != status:
        require(actor, row.permission, row.may)
        if not row.allows(claim.status):
            raise _refuse(claim, row)
    inputs = row.accepted({"amount": amount, "note": reason, "reason": reason})
    return row.service(actor=actor, claim_id=claim.pk, **inputs)


@transaction.atomic
def claim_start_processing(*, actor: User, claim_id: UUID) -> Claim:
    """pending → processing; assigns the claim to the actor when nobody has it yet."""
    row = _row("start")
    require(actor, row.permission, row.may)
    claim = _lock(claim_id)
    if claim.status == row.target:
        return claim
    if not row.allows(claim.status):
        raise _refuse(claim, row)
    previous, fields = claim.status, ["status"]
    claim.status = S.PROCESSING
    if claim.assigned_to_id is None and not actor.is_system:
        claim.assigned_to = actor
        fields.append("assigned_to")
    _save(claim, fields)
    _status_changed(claim, actor=actor, previous=previous)
    return claim


@transaction.atomic
def claim_approve(*, actor: User, claim_id: UUID, amount: Decimal | None = None, note: str = "") -> Claim:
    """pending|processing → approved for `amount` (default: the full claim amount).

    The amount must be positive, ≤ the claim amount and ≤ the policy coverage (400), and within the
    actor's approval authority (403 naming the limit). Repeating the same approval changes nothing.
    """
    row = _row("approve")
    require(actor, row.permission, row.may)
    claim = _lock(claim_id)
    amount = claim.claim_amount if amount is None else amount
    if claim.status == row.target and claim.approved_amount == amount:
        return claim
    if not row.allows(claim.status):
        raise _refuse(claim, row)
    if amount <= 0:
        raise ValidationError({"approved_amount": ["The approved amount must be greater than zero."]})
    if amount > claim.claim_amount:
        raise BusinessRuleViolation(
            f"The approved amount {format_money(amount)} exceeds the claimed {format_money(claim.claim_amount)}.",
            field="approved_amount",
        )
    if amount > claim.policy.coverage_amount:
        raise BusinessRuleViolation(
            f"The approved amount {format_money(amount)} exceeds the coverage of "
            f"{format_money(claim.policy.coverage_amount)}.",
            field="approved_amount",
        )
    limit = authority_limit(actor)
    if limit is not None and amount > limit:
        raise AuthorityExceeded(limit=limit, amount=amount)
    previous = claim.status
    claim.status, claim.approved_amount = S.APPROVED, amount
    claim.decided_by, claim.processed_date = actor, timezone.now()
    if note:
        claim.decision_reason = note
    _save(claim, ["status", "approved_amount", "decided_by", "processed_date", "decision_reason"])
    _status_changed(claim, actor=actor, previous=previous, reason=note, data={"amount": str(amount)})
    return claim


@transaction.atomic
def claim_deny(*, actor: User, claim_id: UUID, reason: str) -> Claim:
    """pending|processing → denied, with a reason (required)."""
    row = _row("deny")
    require(actor, row.permission, row.may)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"decision_reason": ["A reason is required to deny a claim."]})
    claim = _lock(claim_id)
    if claim.status == row.target and claim.decision_reason == reason:
        return claim
    if not row.allows(claim.status):
        raise _refuse(claim, row)
    previous = claim.status
    claim.status, claim.decision_reason = S.DENIED, reason
    claim.decided_by, claim.processed_date = actor, timezone.now()
    _save(claim, ["status", "decision_reason", "decided_by", "processed_date"])
    _status_changed(claim, actor=actor, previous=previous, reason=reason)
    return claim


@transaction.atomic
def claim_mark_paid(*, actor: User, claim_id: UUID) -> Claim:
    """approved → paid by hand, only once the indemnity issued equals the approved amount (409 naming the unpaid
    balance otherwise). An issued payment that settles the claim moves it to paid by itself
    (claims.financials.services.payment_issue); this is for a claim whose payments were settled before its
    approval was last changed (a reopened claim approved again)."""
    row = _row("paid")
    require(actor, row.permission, row.may)
    claim = _lock(claim_id)
    if claim.status == row.target:
        return claim
    if not row.allows(claim.status):
        raise _refuse(claim, row)
    balance = financials.unpaid_balance(claim)
    if balance != 0:
        raise TransitionNotAllowed(
            f"The claim cannot be marked paid: {format_money(balance)} of the approved "
            f"{format_money(claim.approved_amount)} is unpaid (issue its payments first)."
            if balance > 0
            else f"The claim cannot be marked paid: the indemnity issued ({format_money(claim.paid_indemnity)}) "
            f"exceeds the approved {format_money(claim.approved_amount)} by {format_money(-balance)}."
        )
    previous = claim.status
    claim.status = row.target
    _save(claim, ["status"])
    _status_changed(claim, actor=actor, previous=previous)
    return claim


@transaction.atomic
def claim_close(*, actor: User, claim_id: UUID, reason: str = "") -> Claim:
    """paid|denied → closed: refused (409) while a payment awaits issue (requested or approved); every open
    reserve is set to 0 (a reserve change "claim closed" each) in the same transaction."""
    row = _row("close")
    require(actor, row.permission, row.may)
    claim = _lock(claim_id)
    if claim.status == row.target:
        return claim
    if not row.allows(claim.status):
        raise _refuse(claim, row)
    previous = claim.status
    closed = financials.close_reserves(claim=claim, actor=actor)
    claim.status = row.target
    financials.save_totals(claim, fields=["status"])
    _status_changed(
        claim, actor=actor, previous=previous, reason=reason, data={"reserves_closed": closed} if closed else None
    )
    return claim


@transaction.atomic
def claim_reopen(*, actor: User, claim_id: UUID, reason: str = "") -> Claim:
    """denied|closed → processing (claims managers only). Clears the earlier decision (kept in the event).

    A claim already in processing is returned unchanged, so a retried reopen is harmless.
    """
    row = _row("reopen")
    require(actor, row.permission, row.may)
    claim = _lock(claim_id)
    if claim.status == row.target:
        return claim
    if not row.allows(claim.status):
        raise _refuse(claim, row)
    previous = claim.status
    claim.status = S.PROCESSING
    data = {"previous_decision": claim.decision_reason, "previous_amount": str(claim.approved_amount or "")}
    claim.approved_amount, claim.decision_reason, claim.decided_by, claim.processed_date = None, "", None, None
    _save(claim, ["status", "approved_amount", "decision_reason", "decided_by", "processed_date"])
    _status_changed(claim, actor=actor, previous=previous, reason=reason, data=data)
    return claim


@transaction.atomic
def claim_assign(*, actor: User, claim_id: UUID, assignee_id: UUID | None) -> Claim:
    """Assign (or unassign, with None) a claim to a staff user who may process claims. Managers assign
    anyone; anyone who may process claims may take an unassigned claim for themselves ("Assign to me").
    Paid and closed claims cannot be reassigned (409). Locks the claim, records an `assigned` event,
    notifies after commit; assigning to the current assignee changes nothing."""
    self_assign = assignee_id is not None and actor is not None and assignee_id == actor.pk
    if not self_assign:
        require(actor, "claims.assign_claim", "assign claims to others")
    else:
        require(actor, "claims.process_claim", "take claims")
    claim = _lock(claim_id)
    if claim.assigned_to_id == assignee_id:
        return claim
    if self_assign and claim.assigned_to_id is not None and not actor.has_perm("claims.assign_claim"):
        raise TransitionNotAllowed("This claim is already assigned to someone else.")
    row = _row("assign_me")  # its allowed-from set is every assignment's: settled claims keep their handler
    if not row.allows(claim.status):
        raise _refuse(claim, row)
    if assignee_id is not None:
        from vanguard.accounts.models import User

        assignee = User.objects.filter(pk=assignee_id, is_active=True, is_staff=True).first()
        if assignee is None:
            # The id is well-formed; whom it names is stored data, like the can-handle-claims rule below (400).
            raise BusinessRuleViolation("The assignee (assigned_to) is not an active staff user.", field="assigned_to")
        if not can(assignee, "claims.process_claim"):
            raise BusinessRuleViolation(f"{assignee} cannot handle claims.", field="assigned_to")
    previous = claim.assigned_to_id
    claim.assigned_to_id = assignee_id
    _save(claim, ["assigned_to"])
    claim_event_record(
        claim=claim,
        actor=actor,
        kind=ClaimEvent.Kind.ASSIGNED,
        data={"from": str(previous or ""), "to": str(assignee_id or "")},
    )
    _notify(claim)
    return claim


def claim_assign_to_me(*, actor: User, claim_id: UUID) -> Claim:
    """ "Assign to me": claim_assign with the actor as the assignee."""
    return claim_assign(actor=actor, claim_id=claim_id, assignee_id=actor.pk)


@transaction.atomic
def claim_document_add(
    *,
    actor: User,
    claim_id: UUID,
    fileobj: BinaryIO,
    filename: str,
    document_type: str = ClaimDocument.DocumentType.OTHER,
) -> ClaimDocument:
    """Attach a document: content-sniffed type (JPEG, PNG, GIF, PDF, DOC, DOCX), ≤ DOCUMENT_MAX_BYTES (400 otherwise).

    Stored as `claims/<claim_id>/<uuid><ext>` with the extension of the sniffed type, never the client's
    (a PNG named .exe is stored as .png). Records a `document_added` event and bumps the claim's `updated_at`.
    """
    require(actor, "claims.add_claimdocument", "upload claim documents")
    inspected = inspect_upload(fileobj)
    claim = Claim.objects.get(pk=claim_id)
    safe_name = PurePath((filename or "document").replace("\\", "/")).name[:255] or "document"
    document = ClaimDocument(
        claim=claim,
        filename=safe_name,
        mime_type=inspected.mime_type,
        file_size=inspected.size,
        sha256=inspected.sha256,
        document_type=document_type,
        uploaded_by=actor,
    )
    document.file.save(f"document{inspected.extension}", File(fileobj), save=False)
    stored = document.file.name
    try:  # a refused row must not leave its file behind
        # The file was inspected above (size and type); the constraints are the database's to check on save.
        document.full_clean(exclude=["file"], validate_unique=False, validate_constraints=False)
        document.save()
    except Exception:
        document.file.storage.delete(stored)
        raise
    claim_event_record(
        claim=claim,
        actor=actor,
        kind=ClaimEvent.Kind.DOCUMENT_ADDED,
        data={"document_id": str(document.pk), "type": document_type, "mime": inspected.mime_type},
    )
    # The claim's detail lists its documents: a new one is a new version of the claim (its ETag changes).
    claim.save(update_fields=["updated_at"])
    return document


# --- the transition table ---------------------------------------------------------------------------------------
# Every operation a claim's status allows, in the order the admin offers them. A new transition is a row here and
# its service (and, when it asks for input, a TransitionForm in claims/forms.py): the services, claim_set_status
# (the API) and the admin's buttons, pages, actions and permission checks all read it.
def _approved_message(label: str, claim: Claim) -> str:
    return f"{label} approved for {format_money(claim.approved_amount)}."


CLAIM_TRANSITIONS = TransitionTable(
    Transition(
        "start",
        "Start processing",
        "claims.process_claim",
        frozenset({S.PENDING}),
        S.PROCESSING,
        claim_start_processing,
        may="process claims",
        verb="moved to processing",
        done="{obj} is now in processing.",
        action="start_processing",
        action_label="Start processing selected claims",
        done_many="moved to processing",
    ),
    Transition(
        "approve",
        "Approve…",
        "claims.decide_claim",
        frozenset({S.PENDING, S.PROCESSING}),
        S.APPROVED,
        claim_approve,
        may="approve claims",
        verb="approved",
        form="claims.forms.ApproveForm",
        submit="Approve claim",
        submit_many="Approve claims",
        done=_approved_message,
        action="approve_claims",
        action_label="Approve selected claims…",
        done_many="approved",
    ),
    Transition(
        "deny",
        "Deny…",
        "claims.decide_claim",
        frozenset({S.PENDING, S.PROCESSING}),
        S.DENIED,
        claim_deny,
        may="deny claims",
        verb="denied",
        form="claims.forms.DenyForm",
        submit="Deny claim",
        submit_many="Deny claims",
        done="{obj} denied.",
        action="deny_claims",
        action_label="Deny selected claims…",
        done_many="denied",
        note="The reason is recorded on the claim and sent to the customer.",
    ),
    Transition(
        "assign_me",
        "Assign to me",
        "claims.process_claim",
        frozenset(set(S) - {S.PAID, S.CLOSED}),
        None,
        claim_assign_to_me,
        may="take claims",
        verb="reassigned",
        done="{obj} assigned to you.",
        action="assign_to_me",
        action_label="Assign selected claims to me",
        done_many="assigned to you",
    ),
    Transition(
        "paid",
        "Mark paid",
        "claims.decide_claim",
        frozenset({S.APPROVED}),
        S.PAID,
        claim_mark_paid,
        may="mark claims paid",
        verb="marked paid",
        done="{obj} marked paid.",
        action="mark_paid",
        action_label="Mark selected claims paid",
        done_many="marked paid",
    ),
    Transition(
        "close",
        "Close",
        "claims.decide_claim",
        frozenset({S.PAID, S.DENIED}),
        S.CLOSED,
        claim_close,
        may="close claims",
        verb="closed",
        done="{obj} closed.",
        action="close_claims",
        action_label="Close selected claims",
        done_many="closed",
    ),
    Transition(
        "reopen",
        "Reopen…",
        "claims.reopen_claim",
        frozenset({S.DENIED, S.CLOSED}),
        S.PROCESSING,
        claim_reopen,
        may="reopen claims",
        verb="reopened",
        form="claims.forms.ReopenForm",
        submit="Reopen claim",
        submit_many="Reopen claims",
        done="{obj} reopened: back in processing.",
        action="reopen_claims",
        action_label="Reopen selected claims…",
        done_many="reopened",
        note="Reopening puts the claim back in processing and clears its decision (kept in its events).",
    ),
    record_id="claim_id",
)
