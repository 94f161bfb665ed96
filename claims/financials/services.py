"""Every write of a claim's money (SPEC §10.2): reserves, payments under four-eyes control, recoveries.

Each service is one transaction that locks the claim row first (a payment's services lock its claim, then the
payment), so concurrent requests on one claim queue behind each other: none can overdraw a reserve or the
approved amount. Each checks its rule, writes its row (an amount is never edited: a mistake is corrected by a
new row, a reserve change or a void), updates the claim's stored totals in the same transaction, records a
ClaimEvent, and leaves notifications to the outbox (sent after commit).

A payment holds part of its reserve from its request until it is issued or cancelled: a new payment may use the
reserve less the payments not yet issued ("open reserve"), and a reserve cannot be set below them. So issuing a
payment, which erodes the reserve by its amount, can never take a reserve below zero.

Payment transitions: requested → approved → issued; requested | approved → cancelled; issued → voided.
Repeating a transition returns the payment unchanged; anything else is a 409.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from claims import tasks
from claims.events import claim_event_record
from claims.models import (
    MONEY_MAX,
    PAYMENT_UNISSUED,
    ZERO,
    Claim,
    ClaimEvent,
    ClaimPayment,
    ClaimRecovery,
    CostType,
    PaymentMethod,
    PaymentStatus,
    RecoveryKind,
    ReserveChange,
)
from vanguard.accounts.authority import authority_limit
from vanguard.accounts.permissions import require
from vanguard.core.errors import AuthorityExceeded, BusinessRuleViolation, NotPermitted, TransitionNotAllowed
from vanguard.core.money import format_money
from vanguard.core.numbers import save_with_unique_number
from vanguard.core.prepared import PreparedGet
from vanguard.outbox.services import outbox_enqueue

if TYPE_CHECKING:
    from vanguard.accounts.models import User

S = Claim.Status
P = PaymentStatus
CENT = Decimal("0.01")
TOTALS = (
    "reserve_indemnity",
    "reserve_expense",
    "paid_indemnity",
    "paid_expense",
    "recovered",
    "gross_incurred",
    "net_incurred",
)
# Where each rule of §10.2 allows its write.
RESERVABLE = frozenset({S.PENDING, S.PROCESSING, S.APPROVED, S.PAID})
INDEMNITY_PAYABLE = frozenset({S.APPROVED, S.PAID})
RECOVERABLE = frozenset({S.APPROVED, S.PAID, S.CLOSED})
INITIAL_RESERVE_REASON = "initial reserve"
CLOSED_RESERVE_REASON = "claim closed"
REASON_MAX, NAME_MAX, ACCOUNT_MAX, REFERENCE_MAX = 2000, 200, 64, 100
_NOT_GIVEN: Any = object()


# --- input ------------------------------------------------------------------------------------------------
def _money(value: Any, field: str, errors: dict, *, zero_ok: bool = False) -> Decimal | None:
    """A positive amount of at most two places that fits Decimal(15,2) (0 too when `zero_ok`), else an error."""
    if value is None or isinstance(value, bool):
        errors[field] = ["An amount is required."]
        return None
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        errors[field] = ["Enter an amount, e.g. 1250.00."]
        return None
    if not amount.is_finite():
        errors[field] = ["Enter an amount, e.g. 1250.00."]
    elif amount < 0 or (amount == 0 and not zero_ok):
        errors[field] = ["The amount must be zero or more." if zero_ok else "The amount must be greater than zero."]
    elif amount > MONEY_MAX:
        errors[field] = [f"The amount may be at most {format_money(MONEY_MAX)}."]
    elif amount != amount.quantize(CENT):
        errors[field] = ["The amount may have at most two decimal places."]
    else:
        return amount.quantize(CENT)
    return None


def _text(value: Any, field: str, errors: dict, *, max_length: int, required: bool, label: str = "") -> str:
    text = value.strip() if isinstance(value, str) else ("" if value is None else None)
    if text is None:
        errors[field] = ["Enter text."]
        return ""
    if required and not text:
        errors[field] = [f"{label or field.replace('_', ' ').capitalize()} is required."]
    elif len(text) > max_length:
        errors[field] = [f"At most {max_length} characters."]
    elif "\x00" in text:  # PostgreSQL text cannot hold it
        errors[field] = ["Null characters are not allowed."]
    return text


def _choice(value: Any, field: str, errors: dict, choices: Iterable[str], noun: str) -> str:
    allowed = list(choices)
    if value not in allowed:
        errors[field] = [f"Unknown {noun} {str(value)[:40]!r}: one of {', '.join(allowed)}."]
        return ""
    return str(value)


def _raise(errors: dict) -> None:
    if errors:
        raise ValidationError(errors)  # every field at once


# --- locks and totals ------------------------------------------------------------------------------------
def lock_claim(claim_id: UUID) -> Claim:
    """The claim, locked (404 when missing), with its policy for the coverage; every claim write starts here."""
    return _LOCKED_CLAIM.get(claim_id)


_LOCKED_CLAIM = PreparedGet(lambda: Claim.objects.lock_for_update().select_related("policy"))


def _lock_payment(payment_id: UUID) -> tuple[Claim, ClaimPayment]:
    """The payment's claim locked first (every financial write takes that lock first: one queue per claim, and no
    deadlock between two services), then the payment. A payment never changes claim, so reading its claim id
    before the lock is safe."""
    claim_id = ClaimPayment.objects.filter(pk=payment_id).values_list("claim_id", flat=True).first()
    if claim_id is None:
        raise ClaimPayment.DoesNotExist("ClaimPayment matching query does not exist.")
    claim = lock_claim(claim_id)
    payment = ClaimPayment.objects.select_for_update(no_key=True).get(pk=payment_id)
    payment.claim = claim  # the locked row, whose totals the services change
    return claim, payment


def _unissued(claim: Claim) -> dict[str, Decimal]:
    """What the claim's payments not yet issued hold, per cost type (one query)."""
    held = ClaimPayment.objects.filter(claim=claim, status__in=PAYMENT_UNISSUED).aggregate(
        **{kind: Sum("amount", filter=Q(cost_type=kind)) for kind in CostType.values}
    )
    return {kind: held[kind] or ZERO for kind in CostType.values}


def save_totals(claim: Claim, *, fields: Iterable[str] = ()) -> None:
    """Derive gross and net incurred and save the totals (and `fields`) in the caller's transaction."""
    claim.gross_incurred = claim.reserve_indemnity + claim.reserve_expense + claim.paid_indemnity + claim.paid_expense
    claim.net_incurred = claim.gross_incurred - claim.recovered
    if max(claim.gross_incurred, abs(claim.net_incurred)) > MONEY_MAX:
        raise BusinessRuleViolation(
            f"The claim's incurred total would exceed {format_money(MONEY_MAX)}, the largest amount it can hold.",
            field="amount",
        )
    claim.save(update_fields=[*TOTALS, *fields, "updated_at"])


def _reserve_change(claim: Claim, *, cost_type: str, amount: Decimal, reason: str, actor: User | None) -> ReserveChange:
    """Write the change of one reserve and set it on the (locked) claim; the caller saves the totals. Stamped by
    the database's clock (ReserveChange.created_at), so the latest change is the one written last."""
    name = f"reserve_{cost_type}"
    change = ReserveChange.objects.create(
        claim=claim,
        cost_type=cost_type,
        previous_amount=getattr(claim, name),
        new_amount=amount,
        reason=reason,
        actor=actor if actor is not None and actor.pk else None,
    )
    setattr(claim, name, amount)
    return change


def _over_authority(what: str, amount: Decimal, limit: Decimal) -> AuthorityExceeded:
    error = AuthorityExceeded(limit=limit, amount=amount)
    error.message = f"{what} of {format_money(amount)} exceeds your authority limit of {format_money(limit)}."
    error.args = (error.message,)
    return error


def _notify(claim: Claim) -> None:
    # The customer and the handler hear of the claim's new status after commit (an outbox row in this transaction).
    outbox_enqueue(tasks.notify_claim_status, claim_id=str(claim.pk))


def _claim_moved(claim: Claim, *, actor: User | None, previous: str, reason: str, data: dict) -> None:
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


def _payment_event(
    payment: ClaimPayment, *, actor: User | None, kind: str, previous: str, reason: str = "", **data: Any
) -> None:
    # The payment's number, type and amount; never its payee (a person's name, an account).
    claim_event_record(
        claim=payment.claim,
        actor=actor,
        kind=kind,
        from_status=previous,
        to_status=payment.status,
        reason=reason,
        data={
            "payment_id": str(payment.pk),
            "payment_number": payment.payment_number,
            "cost_type": payment.cost_type,
            "amount": str(payment.amount),
            **data,
        },
    )


def _refuse(payment: ClaimPayment, verb: str, hint: str = "") -> TransitionNotAllowed:
    error = TransitionNotAllowed.for_status(payment.get_status_display(), "payment", verb)
    if hint:
        error.message = f"{error.message[:-1]}: {hint}."
        error.args = (error.message,)
    return error


# --- reserves ----------------------------------------------------------------------------------------------
def initial_reserve(*, claim: Claim, actor: User | None) -> ReserveChange:
    """A new claim's indemnity reserve: its claimed amount (claims.services.claim_create, which has already set the
    totals on the claim it saved). No authority check: filing a claim is not a decision about its cost."""
    return ReserveChange.objects.create(
        claim=claim,
        cost_type=CostType.INDEMNITY,
        previous_amount=ZERO,
        new_amount=claim.reserve_indemnity,
        reason=INITIAL_RESERVE_REASON,
        actor=actor if actor is not None and actor.pk else None,
    )


def close_reserves(*, claim: Claim, actor: User | None) -> dict[str, str]:
    """Closing a claim (claims.services.claim_close, under its lock): refused (409) while a payment awaits issue;
    every open reserve set to 0 (reason "claim closed"). The caller saves the status; the totals are saved here.
    Returns the reserves closed, for the close event."""
    waiting = list(
        ClaimPayment.objects.filter(claim=claim, status__in=PAYMENT_UNISSUED)
        .order_by("payment_number")
        .values_list("payment_number", flat=True)
    )
    if waiting:
        raise TransitionNotAllowed(
            f"The claim cannot be closed while {len(waiting)} payment{'s' if len(waiting) > 1 else ''} "
            f"await{'' if len(waiting) > 1 else 's'} issue ({', '.join(waiting)}): issue or cancel "
            f"{'them' if len(waiting) > 1 else 'it'} first."
        )
    closed = {}
    for cost_type in CostType.values:
        before = getattr(claim, f"reserve_{cost_type}")
        if before > 0:
            _reserve_change(claim, cost_type=cost_type, amount=ZERO, reason=CLOSED_RESERVE_REASON, actor=actor)
            closed[cost_type] = str(before)
    return closed


def unpaid_balance(claim: Claim) -> Decimal:
    """The approved amount less the indemnity issued (what a claim still owes before it may be marked paid)."""
    return (claim.approved_amount or ZERO) - claim.paid_indemnity


@transaction.atomic
def claim_reserve_set(*, actor: User, claim_id: UUID, cost_type: str, amount: Decimal, reason: str) -> ReserveChange:
    """Set the open reserve of one cost type to `amount` (0 closes it), with a reason (422 without).

    On pending, processing, approved or paid claims only (409 on denied or closed). The indemnity reserve may not
    exceed the coverage less the indemnity already paid, and no reserve may fall below what its payments not yet
    issued hold (400); above the actor's authority limit it is a 403 naming the limit."""
    require(actor, "claims.add_reservechange", "set reserves")
    errors: dict = {}
    cost_type = _choice(cost_type, "cost_type", errors, CostType.values, "cost type")
    amount = _money(amount, "amount", errors, zero_ok=True)
    reason = _text(reason, "reason", errors, max_length=REASON_MAX, required=True, label="A reason")
    _raise(errors)
    claim = lock_claim(claim_id)
    if claim.status not in RESERVABLE:
        raise TransitionNotAllowed(
            f"The reserves of a {claim.get_status_display().lower()} claim cannot be set"
            + ("; reopen it first." if claim.status in {S.DENIED, S.CLOSED} else ".")
        )
    if cost_type == CostType.INDEMNITY:
        room = claim.policy.coverage_amount - claim.paid_indemnity
        if amount > room:
            raise BusinessRuleViolation(
                f"The indemnity reserve of {format_money(amount)} exceeds the coverage of "
                f"{format_money(claim.policy.coverage_amount)} less the {format_money(claim.paid_indemnity)} "
                f"already paid ({format_money(room)}).",
                field="amount",
            )
    held = _unissued(claim)[cost_type]
    if amount < held:
        raise BusinessRuleViolation(
            f"The {cost_type} reserve cannot be set to {format_money(amount)}: payments not yet issued hold "
            f"{format_money(held)} of it.",
            field="amount",
        )
    limit = authority_limit(actor)
    if limit is not None and amount > limit:
        raise _over_authority("A reserve", amount, limit)
    before = getattr(claim, f"reserve_{cost_type}")
    change = _reserve_change(claim, cost_type=cost_type, amount=amount, reason=reason, actor=actor)
    save_totals(claim)
    claim_event_record(
        claim=claim,
        actor=actor,
        kind=ClaimEvent.Kind.RESERVE_SET,
        reason=reason,
        data={"reserve_change_id": str(change.pk), "cost_type": cost_type, "from": str(before), "to": str(amount)},
    )
    return change


# --- payments ------------------------------------------------------------------------------------------------
@transaction.atomic
def payment_request(
    *,
    actor: User,
    claim_id: UUID,
    cost_type: str,
    amount: Decimal,
    payee_name: str,
    payee_account: str = "",
    payee_is_policyholder: bool = False,
    method: str,
    reference: str = "",
) -> ClaimPayment:
    """Request a payment. Indemnity needs an approved or paid claim (400); expense a claim past pending (400) and
    not denied or closed (409). The amount may not exceed the open reserve of its cost type (the reserve less the
    payments not yet issued), and indemnity requested, approved and issued may not exceed the approved amount
    (400, naming the figures).

    Four eyes: above PAYMENT_FOUR_EYES_LIMIT or above the requester's authority the payment is created `requested`
    and waits for another user's approval (payment_approve); otherwise it is created `approved`."""
    require(actor, "claims.add_claimpayment", "request payments")
    errors: dict = {}
    cost_type = _choice(cost_type, "cost_type", errors, CostType.values, "cost type")
    amount = _money(amount, "amount", errors)
    payee_name = _text(payee_name, "payee_name", errors, max_length=NAME_MAX, required=True, label="The payee")
    payee_account = _text(payee_account, "payee_account", errors, max_length=ACCOUNT_MAX, required=False)
    method = _choice(method, "method", errors, PaymentMethod.values, "payment method")
    reference = _text(reference, "reference", errors, max_length=REFERENCE_MAX, required=False)
    if not isinstance(payee_is_policyholder, bool):
        errors["payee_is_policyholder"] = ["Must be true or false."]
    _raise(errors)
    claim = lock_claim(claim_id)
    status = claim.get_status_display().lower()
    if cost_type == CostType.INDEMNITY and claim.status not in INDEMNITY_PAYABLE:
        raise BusinessRuleViolation(
            f"An indemnity payment needs an approved claim; this claim is {status}.", field="cost_type"
        )
    if cost_type == CostType.EXPENSE:
        if claim.status in {S.DENIED, S.CLOSED}:
            raise TransitionNotAllowed(f"A {status} claim takes no expense payments.")
        if claim.status == S.PENDING:
            raise BusinessRuleViolation(
                "An expense payment needs a claim in processing or later; this claim is pending.", field="cost_type"
            )
    held = _unissued(claim)
    open_reserve = getattr(claim, f"reserve_{cost_type}") - held[cost_type]
    if amount > open_reserve:
        raise BusinessRuleViolation(
            f"The payment of {format_money(amount)} exceeds the open {cost_type} reserve of "
            f"{format_money(open_reserve)}.",
            field="amount",
        )
    if cost_type == CostType.INDEMNITY:
        committed = claim.paid_indemnity + held[CostType.INDEMNITY]
        if committed + amount > claim.approved_amount:
            raise BusinessRuleViolation(
                f"The payment of {format_money(amount)} would bring the indemnity requested, approved and issued to "
                f"{format_money(committed + amount)}, above the approved amount of "
                f"{format_money(claim.approved_amount)}.",
                field="amount",
            )
    limit = authority_limit(actor)
    four_eyes = amount > settings.PAYMENT_FOUR_EYES_LIMIT or (limit is not None and amount > limit)
    now = timezone.now()
    me = actor if actor is not None and actor.pk else None
    payment = ClaimPayment(
        claim=claim,
        cost_type=cost_type,
        amount=amount,
        payee_name=payee_name,
        payee_account=payee_account,
        payee_is_policyholder=payee_is_policyholder,
        method=method,
        reference=reference,
        status=P.REQUESTED if four_eyes else P.APPROVED,
        requested_by=me,
        requested_at=now,
        approved_by=None if four_eyes else me,
        approved_at=None if four_eyes else now,
        encryption_key_id=settings.ENCRYPTION_KEY_ID,
    )
    save_with_unique_number(payment, field="payment_number", prefix="PAY", save=lambda p: p.save())
    _payment_event(payment, actor=actor, kind=ClaimEvent.Kind.PAYMENT_REQUESTED, previous="", four_eyes=four_eyes)
    return payment


@transaction.atomic
def payment_approve(*, actor: User, payment_id: UUID) -> ClaimPayment:
    """requested → approved, by a user other than the requester (403 "four-eyes") whose authority covers the
    amount (403 naming the limit). Approving an approved payment returns it unchanged."""
    require(actor, "claims.approve_payment", "approve payments")
    _claim, payment = _lock_payment(payment_id)
    if payment.status == P.APPROVED:
        return payment
    if payment.status != P.REQUESTED:
        raise _refuse(payment, "approved")
    if payment.requested_by_id is not None and payment.requested_by_id == actor.pk:
        raise NotPermitted("four-eyes: a payment must be approved by someone other than the user who requested it.")
    limit = authority_limit(actor)
    if limit is not None and payment.amount > limit:
        raise _over_authority("Approval", payment.amount, limit)
    payment.status, payment.approved_by, payment.approved_at = P.APPROVED, actor, timezone.now()
    payment.save(update_fields=["status", "approved_by", "approved_at", "updated_at"])
    _payment_event(payment, actor=actor, kind=ClaimEvent.Kind.PAYMENT_APPROVED, previous=P.REQUESTED)
    return payment


@transaction.atomic
def payment_issue(*, actor: User, payment_id: UUID) -> ClaimPayment:
    """approved → issued: the money has left. The reserve of its cost type is eroded by the amount (a reserve
    change "payment PAY-…") and the paid total rises; when the indemnity issued reaches the approved amount, an
    approved claim moves to paid by itself (its event, and the customer is notified)."""
    require(actor, "claims.issue_payment", "issue payments")
    claim, payment = _lock_payment(payment_id)
    if payment.status == P.ISSUED:
        return payment
    if payment.status != P.APPROVED:
        raise _refuse(payment, "issued", "it awaits approval" if payment.status == P.REQUESTED else "")
    payment.status, payment.issued_by, payment.issued_at = P.ISSUED, actor, timezone.now()
    payment.save(update_fields=["status", "issued_by", "issued_at", "updated_at"])
    cost_type = payment.cost_type
    reserve = getattr(claim, f"reserve_{cost_type}")
    _reserve_change(
        claim,
        cost_type=cost_type,
        amount=max(ZERO, reserve - payment.amount),
        reason=f"payment {payment.payment_number}",
        actor=actor,
    )
    paid = f"paid_{cost_type}"
    setattr(claim, paid, getattr(claim, paid) + payment.amount)
    previous = claim.status
    settled = (
        cost_type == CostType.INDEMNITY and claim.status == S.APPROVED and claim.paid_indemnity >= claim.approved_amount
    )
    if settled:
        claim.status = S.PAID
    save_totals(claim, fields=["status"] if settled else ())
    _payment_event(payment, actor=actor, kind=ClaimEvent.Kind.PAYMENT_ISSUED, previous=P.APPROVED)
    if settled:
        _claim_moved(
            claim,
            actor=actor,
            previous=previous,
            reason=f"Indemnity paid in full (payment {payment.payment_number}).",
            data={"paid_indemnity": str(claim.paid_indemnity), "payment_number": payment.payment_number},
        )
    return payment


@transaction.atomic
def payment_cancel(*, actor: User, payment_id: UUID, reason: str) -> ClaimPayment:
    """requested | approved → cancelled, with a reason (422 without). Moves no money: the reserve it held is open
    again. Cancelling a cancelled payment returns it unchanged."""
    require(actor, "claims.cancel_payment", "cancel payments")
    errors: dict = {}
    reason = _text(reason, "reason", errors, max_length=REASON_MAX, required=True, label="A reason")
    _raise(errors)
    _claim, payment = _lock_payment(payment_id)
    if payment.status == P.CANCELLED:
        return payment
    if payment.status not in PAYMENT_UNISSUED:
        raise _refuse(payment, "cancelled", "void it instead" if payment.status == P.ISSUED else "")
    previous = payment.status
    payment.status, payment.cancelled_by, payment.cancelled_at = P.CANCELLED, actor, timezone.now()
    payment.cancel_reason = reason
    payment.save(update_fields=["status", "cancelled_by", "cancelled_at", "cancel_reason", "updated_at"])
    _payment_event(payment, actor=actor, kind=ClaimEvent.Kind.PAYMENT_CANCELLED, previous=previous, reason=reason)
    return payment


@transaction.atomic
def payment_void(*, actor: User, payment_id: UUID, reason: str) -> ClaimPayment:
    """issued → voided, with a reason (422 without): the money did not arrive (a returned transfer, a stopped
    cheque). The reserve is restored, the paid total falls, and a paid claim goes back to approved. A closed
    claim's payments stay as they are (409): reopen the claim first. Voiding a voided payment returns it."""
    require(actor, "claims.void_payment", "void payments")
    errors: dict = {}
    reason = _text(reason, "reason", errors, max_length=REASON_MAX, required=True, label="A reason")
    _raise(errors)
    claim, payment = _lock_payment(payment_id)
    if payment.status == P.VOIDED:
        return payment
    if payment.status != P.ISSUED:
        raise _refuse(payment, "voided", "only an issued payment can be voided")
    if claim.status == S.CLOSED:
        raise TransitionNotAllowed("The payments of a closed claim cannot be voided; reopen the claim first.")
    payment.status, payment.voided_by, payment.voided_at = P.VOIDED, actor, timezone.now()
    payment.void_reason = reason
    payment.save(update_fields=["status", "voided_by", "voided_at", "void_reason", "updated_at"])
    cost_type = payment.cost_type
    _reserve_change(
        claim,
        cost_type=cost_type,
        amount=getattr(claim, f"reserve_{cost_type}") + payment.amount,
        reason=f"payment {payment.payment_number} voided",
        actor=actor,
    )
    paid = f"paid_{cost_type}"
    setattr(claim, paid, getattr(claim, paid) - payment.amount)
    previous = claim.status
    reopened = (
        cost_type == CostType.INDEMNITY
        and claim.status == S.PAID
        and claim.paid_indemnity < (claim.approved_amount or ZERO)
    )
    if reopened:
        claim.status = S.APPROVED
    save_totals(claim, fields=["status"] if reopened else ())
    _payment_event(payment, actor=actor, kind=ClaimEvent.Kind.PAYMENT_VOIDED, previous=P.ISSUED, reason=reason)
    if reopened:
        _claim_moved(
            claim,
            actor=actor,
            previous=previous,
            reason=f"Payment {payment.payment_number} voided: {format_money(unpaid_balance(claim))} unpaid.",
            data={"paid_indemnity": str(claim.paid_indemnity), "payment_number": payment.payment_number},
        )
    return payment


# --- recoveries ----------------------------------------------------------------------------------------------
@transaction.atomic
def recovery_record(
    *,
    actor: User,
    claim_id: UUID,
    kind: str,
    amount: Decimal,
    source: str,
    reference: str = "",
    received_at: dt.datetime | None = None,
) -> ClaimRecovery:
    """Record money that came back (salvage, subrogation, other) on an approved, paid or closed claim (409
    otherwise; a closed claim need not be reopened). `received_at` defaults to now and cannot be in the future."""
    require(actor, "claims.add_claimrecovery", "record recoveries")
    errors: dict = {}
    kind = _choice(kind, "kind", errors, RecoveryKind.values, "recovery kind")
    amount = _money(amount, "amount", errors)
    source = _text(source, "source", errors, max_length=NAME_MAX, required=True, label="Who paid it back (source)")
    reference = _text(reference, "reference", errors, max_length=REFERENCE_MAX, required=False)
    now = timezone.now()
    if received_at is None:
        received_at = now
    elif not isinstance(received_at, dt.datetime) or timezone.is_naive(received_at):
        errors["received_at"] = ["Give a date and time with its offset, e.g. 2026-12-01T09:30:00Z."]
    elif received_at > now:
        errors["received_at"] = ["The recovery cannot be received in the future."]
    _raise(errors)
    claim = lock_claim(claim_id)
    if claim.status not in RECOVERABLE:
        raise TransitionNotAllowed(
            f"Recoveries are recorded on approved, paid or closed claims; this claim is "
            f"{claim.get_status_display().lower()}."
        )
    recovery = ClaimRecovery.objects.create(
        claim=claim,
        kind=kind,
        amount=amount,
        source=source,
        reference=reference,
        received_at=received_at.astimezone(dt.UTC),
        actor=actor if actor is not None and actor.pk else None,
    )
    claim.recovered += amount
    save_totals(claim)
    claim_event_record(
        claim=claim,
        actor=actor,
        kind=ClaimEvent.Kind.RECOVERY_RECORDED,
        data={"recovery_id": str(recovery.pk), "kind": kind, "amount": str(amount)},
    )
    return recovery


# --- reconciliation ------------------------------------------------------------------------------------------
def claim_financials_recompute(*, claim_id: UUID) -> dict[str, Decimal]:
    """The claim's totals as its rows say (what the stored totals must equal): each reserve is the new amount of
    its latest change, paid is the sum of the issued payments (voided ones are not paid), recovered the sum of
    the recoveries; gross = paid + reserves, net = gross - recovered. Three queries; writes nothing."""
    totals = dict.fromkeys(TOTALS, ZERO)
    latest = (
        ReserveChange.objects.filter(claim_id=claim_id)
        .order_by("cost_type", "-created_at", "-id")
        .distinct("cost_type")
        .values_list("cost_type", "new_amount")
    )
    for cost_type, amount in latest:
        totals[f"reserve_{cost_type}"] = amount
    paid = ClaimPayment.objects.filter(claim_id=claim_id, status=P.ISSUED).aggregate(
        **{f"paid_{kind}": Sum("amount", filter=Q(cost_type=kind)) for kind in CostType.values}
    )
    totals |= {name: value or ZERO for name, value in paid.items()}
    totals["recovered"] = ClaimRecovery.objects.filter(claim_id=claim_id).aggregate(s=Sum("amount"))["s"] or ZERO
    totals["gross_incurred"] = (
        totals["reserve_indemnity"] + totals["reserve_expense"] + totals["paid_indemnity"] + totals["paid_expense"]
    )
    totals["net_incurred"] = totals["gross_incurred"] - totals["recovered"]
    return totals
