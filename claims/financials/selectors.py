"""Reads of a claim's money (SPEC §10) for the API, the admin and the dashboard.

Lists are `.values()` rows through `page_of` (one query per page). The payee account is decrypted only to be
masked: no response or list carries more than its last four characters (`mask_account`); the full value is shown
on the admin payment page to Finance alone, and that view is written to the PII access log there.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import Q, QuerySet, Sum

from claims.models import (
    PAYMENT_UNISSUED,
    Claim,
    ClaimPayment,
    ClaimRecovery,
    CostType,
    PaymentStatus,
    ReserveChange,
)
from vanguard.accounts.authority import authority_limit
from vanguard.accounts.permissions import can
from vanguard.core.pagination import PageQuery, page_of

CENT = Decimal("0.01")
MASK = "••••"

# The claim's stored totals (kept by claims.financials.services, checked by verify_claim_financials).
TOTALS = (
    "reserve_indemnity",
    "reserve_expense",
    "paid_indemnity",
    "paid_expense",
    "recovered",
    "gross_incurred",
    "net_incurred",
)

RESERVE_FIELDS = ("id", "claim_id", "cost_type", "previous_amount", "new_amount", "reason", "actor_id", "created_at")
PAYMENT_FIELDS = (
    "id",
    "payment_number",
    "claim_id",
    "cost_type",
    "amount",
    "payee_name",
    "payee_account",
    "payee_is_policyholder",
    "method",
    "reference",
    "status",
    "requested_by_id",
    "requested_at",
    "approved_by_id",
    "approved_at",
    "issued_by_id",
    "issued_at",
    "cancelled_by_id",
    "cancelled_at",
    "cancel_reason",
    "voided_by_id",
    "voided_at",
    "void_reason",
    "created_at",
    "updated_at",
)
RECOVERY_FIELDS = ("id", "claim_id", "kind", "amount", "source", "reference", "received_at", "actor_id", "created_at")

_RESERVE_MONEY = ("previous_amount", "new_amount")


def money(value: Decimal | None) -> Decimal | None:
    """Two places, as the `Money` component promises ("150.00", never "150.5")."""
    return None if value is None else Decimal(value).quantize(CENT)


def mask_account(value: str | None) -> str:
    """A payee account as every response and list shows it: its last four characters ("•••• 1234"); "" when
    there is none. An account of four characters or fewer is masked whole, so the mask never shows it in clear."""
    compact = "".join((value or "").split())
    if not compact:
        return ""
    return f"{MASK} {compact[-4:]}" if len(compact) > 4 else MASK


# --- the claim's totals ----------------------------------------------------------------------------------
def financials_row(claim: Claim) -> dict[str, Any]:
    """The ClaimFinancials body: the seven stored totals and the installation's currency."""
    row: dict[str, Any] = {name: money(getattr(claim, name)) for name in TOTALS}
    row["currency"] = settings.CURRENCY
    return row


def unissued_by_cost_type(*, claim_id: UUID) -> dict[str, Decimal]:
    """What the claim's payments not yet issued (requested or approved) hold of each cost type's reserve: the
    part of it a new payment cannot use (one query)."""
    held = ClaimPayment.objects.filter(claim_id=claim_id, status__in=PAYMENT_UNISSUED).aggregate(
        **{kind: Sum("amount", filter=Q(cost_type=kind)) for kind in CostType.values}
    )
    return {kind: money(held[kind] or Decimal("0")) for kind in CostType.values}


def claim_financials_get(*, claim_id: UUID) -> dict[str, Any]:
    """The claim's totals (Claim.DoesNotExist → 404): one query on the claim's own row."""
    return financials_row(Claim.objects.only("id", *TOTALS).get(pk=claim_id))


def _claim_rows(queryset: QuerySet, claim_id: UUID, params: PageQuery, *, fields, row) -> dict[str, Any]:
    """A page of one claim's rows; an unknown claim is a 404. The claim is looked up only when the page is
    empty (a page with rows proves it exists), so a list is one query."""
    page = page_of(queryset.filter(claim_id=claim_id), params, fields=fields, row=row)
    if not page["items"] and not Claim.objects.filter(pk=claim_id).exists():
        raise Claim.DoesNotExist
    return page


# --- reserve changes ---------------------------------------------------------------------------------------
def reserve_row(row: dict[str, Any]) -> dict[str, Any]:
    for name in _RESERVE_MONEY:
        row[name] = money(row[name])
    return row


def reserve_change_row(change: ReserveChange) -> dict[str, Any]:
    return reserve_row({name: getattr(change, name) for name in RESERVE_FIELDS})


def reserve_change_list(*, claim_id: UUID, params: PageQuery) -> dict[str, Any]:
    return _claim_rows(
        ReserveChange.objects.order_by("-created_at", "-id"), claim_id, params, fields=RESERVE_FIELDS, row=reserve_row
    )


def reserve_change_get(*, reserve_change_id: UUID) -> ReserveChange:
    return ReserveChange.objects.only(*(f.removesuffix("_id") for f in RESERVE_FIELDS)).get(pk=reserve_change_id)


# --- payments --------------------------------------------------------------------------------------------
def payment_row(row: dict[str, Any]) -> dict[str, Any]:
    """The PaymentResponse body from a `.values()` row or a payment's fields: the account masked."""
    row["amount"] = money(row["amount"])
    row["payee_account"] = mask_account(row["payee_account"])
    for actor in ("requested_by", "approved_by", "issued_by", "cancelled_by", "voided_by"):
        row[actor] = row.pop(f"{actor}_id")
    return row


def claim_payment_row(payment: ClaimPayment) -> dict[str, Any]:
    return payment_row({name: getattr(payment, name) for name in PAYMENT_FIELDS})


def payments_awaiting_approval(user: Any, queryset: QuerySet | None = None) -> QuerySet[ClaimPayment]:
    """Payments `user` may approve now: requested by someone else, within the user's authority (four eyes,
    SPEC §10.2). None for a user without claims.approve_payment."""
    queryset = ClaimPayment.objects.all() if queryset is None else queryset
    if not can(user, "claims.approve_payment") or getattr(user, "is_system", False):
        return queryset.none()
    queryset = queryset.filter(status=PaymentStatus.REQUESTED).exclude(requested_by_id=user.pk)
    limit = authority_limit(user)
    return queryset if limit is None else queryset.filter(amount__lte=limit)


def payment_queryset(filters: Any = None, *, user: Any = None) -> QuerySet[ClaimPayment]:
    """Payments, newest first, narrowed by the API's PaymentFilter fields."""
    qs = ClaimPayment.objects.order_by("-created_at", "-id")
    if filters is None:
        return qs
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.claim_id:
        qs = qs.filter(claim_id=filters.claim_id)
    if filters.cost_type:
        qs = qs.filter(cost_type=filters.cost_type)
    if filters.awaiting_my_approval is True:
        qs = payments_awaiting_approval(user, qs)
    elif filters.awaiting_my_approval is False:
        qs = qs.exclude(pk__in=payments_awaiting_approval(user).values("pk"))
    return qs


def payment_list(*, filters: Any, params: PageQuery, user: Any) -> dict[str, Any]:
    return page_of(payment_queryset(filters, user=user), params, fields=PAYMENT_FIELDS, row=payment_row)


def claim_payment_list(*, claim_id: UUID, params: PageQuery) -> dict[str, Any]:
    return _claim_rows(payment_queryset(), claim_id, params, fields=PAYMENT_FIELDS, row=payment_row)


def payment_get(*, payment_id: UUID, claim_id: UUID | None = None) -> ClaimPayment:
    """One payment (ClaimPayment.DoesNotExist → 404); under a claim's path, only that claim's."""
    only = [
        name.removesuffix("_id") if name.endswith("_by_id") or name == "claim_id" else name for name in PAYMENT_FIELDS
    ]
    qs = ClaimPayment.objects.only(*only)
    if claim_id is not None:
        qs = qs.filter(claim_id=claim_id)
    return qs.get(pk=payment_id)


# --- recoveries ------------------------------------------------------------------------------------------
def recovery_row(row: dict[str, Any]) -> dict[str, Any]:
    row["amount"] = money(row["amount"])
    return row


def claim_recovery_row(recovery: ClaimRecovery) -> dict[str, Any]:
    return recovery_row({name: getattr(recovery, name) for name in RECOVERY_FIELDS})


def recovery_list(*, claim_id: UUID, params: PageQuery) -> dict[str, Any]:
    return _claim_rows(
        ClaimRecovery.objects.order_by("-created_at", "-id"),
        claim_id,
        params,
        fields=RECOVERY_FIELDS,
        row=recovery_row,
    )


def recovery_get(*, recovery_id: UUID) -> ClaimRecovery:
    return ClaimRecovery.objects.only(*(f.removesuffix("_id") for f in RECOVERY_FIELDS)).get(pk=recovery_id)
