"""Schemas of a claim's money in the API (SPEC §10.4): totals, reserve changes, payments and recoveries."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from django.utils import timezone
from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema

from claims.models import CostType, PaymentMethod, PaymentStatus, RecoveryKind
from vanguard.api_support.schemas import Flag, Moment, Money, MoneyIn, Page, QueryFlag, name_text

# Decimal(15,2): at most 13 digits before the point.
_WHOLE = 13
# A reserve may be set to 0 (that closes it): the only amount in the API that may be zero.
_RESERVE_PATTERN = rf"^(0|[1-9]\d{{0,{_WHOLE - 1}}})(\.\d{{1,2}})?$"
_RESERVE_RE = re.compile(_RESERVE_PATTERN)
_RESERVE_MAX = float(Decimal(10) ** _WHOLE - Decimal("0.01"))


def _reserve_amount(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number or a decimal string")
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str) and _RESERVE_RE.match(value):
        return Decimal(value)
    raise ValueError(
        f"must be a number or a decimal string of 0 or more with at most {_WHOLE} digits before the "
        "point and 2 after it, e.g. 2500.00 (0 closes the reserve)"
    )


# A reserve's new amount: money as MoneyIn, but 0 is allowed.
ReserveAmount = Annotated[
    Decimal,
    BeforeValidator(_reserve_amount),
    Field(ge=0, max_digits=15, decimal_places=2),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": _RESERVE_MAX, "multipleOf": 0.01},
                {"type": "string", "pattern": _RESERVE_PATTERN},
            ]
        }
    ),
]

Reason = name_text(2000)
Reference = Annotated[str, StringConstraints(max_length=100)]


def _not_future(value: dt.datetime) -> dt.datetime:
    if value > timezone.now():
        raise ValueError("The recovery cannot be received in the future.")
    return value


class ClaimFinancials(Schema):
    """A claim's figures: open reserves, paid, recovered, gross incurred (paid + open reserves) and net incurred
    (gross - recovered), in `currency`."""

    reserve_indemnity: Money
    reserve_expense: Money
    paid_indemnity: Money
    paid_expense: Money
    recovered: Money
    gross_incurred: Money
    net_incurred: Money
    currency: str = Field(description="the installation's currency code (ISO 4217)")


class ReserveChangeCreate(Schema):
    model_config = ConfigDict(extra="forbid")

    cost_type: CostType
    amount: ReserveAmount = Field(
        description="the new open reserve of this cost type; 0 closes it. The "
        "indemnity reserve may not exceed the coverage less indemnity paid (400); above "
        "your authority limit it is a 403"
    )
    reason: Reason = Field(description="why the reserve changes (required)")


class ReserveChangeResponse(Schema):
    id: UUID
    claim_id: UUID
    cost_type: CostType
    previous_amount: Money
    new_amount: Money
    reason: str
    actor_id: UUID | None = Field(description="null for the system (a payment's erosion names the payment)")
    created_at: dt.datetime


class PaymentCreate(Schema):
    model_config = ConfigDict(extra="forbid")

    cost_type: CostType
    amount: MoneyIn = Field(
        description="at most the open reserve of its cost type (400); indemnity requested, "
        "approved and issued at most the claim's approved amount (400)"
    )
    payee_name: name_text(200)
    payee_account: Annotated[str, StringConstraints(max_length=64)] = Field(
        "", description="IBAN or account number; stored encrypted, answered only as its last 4 characters"
    )
    payee_is_policyholder: Flag = Field(description="anonymised with the customer on erasure when true")
    method: PaymentMethod
    reference: Reference = ""


class PaymentResponse(Schema):
    """A payment: `requested` (awaiting a second person, four eyes) or `approved` when created, then
    `issued`; `cancelled` before issue, `voided` after it."""

    id: UUID
    payment_number: str
    claim_id: UUID
    cost_type: CostType
    amount: Money
    payee_name: str
    payee_account: str = Field(description='only the last 4 characters, e.g. "•••• 1234"; "" when none')
    payee_is_policyholder: bool
    method: PaymentMethod
    reference: str
    status: PaymentStatus
    requested_by: UUID | None
    requested_at: dt.datetime | None
    approved_by: UUID | None
    approved_at: dt.datetime | None
    issued_by: UUID | None
    issued_at: dt.datetime | None
    cancelled_by: UUID | None
    cancelled_at: dt.datetime | None
    cancel_reason: str
    voided_by: UUID | None
    voided_at: dt.datetime | None
    void_reason: str
    created_at: dt.datetime
    updated_at: dt.datetime


class PaymentReason(Schema):
    """Why a payment is cancelled or voided (required)."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class PaymentFilter(Schema):
    status: PaymentStatus | None = None
    claim_id: UUID | None = None
    cost_type: CostType | None = None
    awaiting_my_approval: QueryFlag | None = Field(
        None,
        description="true: only payments you may approve now (requested by someone else, within your "
        "authority); false: all others",
    )


class RecoveryCreate(Schema):
    model_config = ConfigDict(extra="forbid")

    kind: RecoveryKind
    amount: MoneyIn
    source: name_text(200) = Field(description="who paid it back, e.g. the other driver's insurer")
    reference: Reference = ""
    received_at: Annotated[Moment, AfterValidator(_not_future)] = Field(
        None, description="when the money came in; not in the future (422); now when left out"
    )


class RecoveryResponse(Schema):
    id: UUID
    claim_id: UUID
    kind: RecoveryKind
    amount: Money
    source: str
    reference: str
    received_at: dt.datetime
    actor_id: UUID | None
    created_at: dt.datetime


class ReserveChangePage(Page[ReserveChangeResponse]):
    """A page of a claim's reserve changes, newest first."""


class PaymentPage(Page[PaymentResponse]):
    """A page of payments, newest first."""


class RecoveryPage(Page[RecoveryResponse]):
    """A page of a claim's recoveries, newest first."""
