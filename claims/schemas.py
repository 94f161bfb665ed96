"""Claim and claim-document schemas of the API (SPEC §3)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

from django.utils import timezone
from ninja import Schema
from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, model_validator

from claims.models import ClaimStatus, ClaimType, DocumentType
from policies.schemas import PolicyResponse
from vanguard.api_support.schemas import Moment, Money, MoneyIn, Page, text_required_when

Amount = MoneyIn  # the columns are Decimal(15,2)


def _not_future(value: dt.datetime) -> dt.datetime:
    if value > timezone.now():
        raise ValueError("The incident date cannot be in the future.")
    return value


class ClaimCreate(Schema):
    model_config = ConfigDict(extra="forbid")

    policy_id: UUID
    claim_type: ClaimType
    claim_amount: Amount = Field(description="decimal, number or string; ≤ the policy's coverage (400)")
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    incident_date: Annotated[Moment, AfterValidator(_not_future)] = Field(
        description="not in the future (422); inside the policy term (400)"
    )


class ClaimUpdate(Schema):
    """`status` runs the transition: processing (start, or reopen for managers), approved (with
    `approved_amount`, default the full claim amount), denied (needs `decision_reason`), paid, closed.
    Illegal transitions are 409; an approval above the caller's authority is 403. `approved_amount` and
    `decision_reason` need a `status` (422 without one)."""

    # Documented as the server checks it: the decision fields are only read with a transition.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "dependentRequired": {"approved_amount": ["status"], "decision_reason": ["status"]},
            **text_required_when("status", ClaimStatus.DENIED.value, "decision_reason"),  # claim_deny's 422
        },
    )

    status: ClaimStatus = Field(None, description="the target status; omit to leave it")
    approved_amount: Amount = Field(None, description="with status=approved; default the full claim amount")
    decision_reason: Annotated[str, StringConstraints(max_length=2000)] = Field(
        None, description="with a status: required to deny, kept as the note otherwise"
    )
    description: Annotated[str, StringConstraints(max_length=5000)] = Field(None)
    assigned_to: UUID | None = Field(None, description="staff user id; null unassigns")

    @model_validator(mode="after")
    def _decision_fields_need_a_status(self) -> ClaimUpdate:
        # Without a transition they would be ignored in silence: refuse them instead (422).
        if "status" not in self.model_fields_set:
            stray = [name for name in ("approved_amount", "decision_reason") if name in self.model_fields_set]
            if stray:
                raise ValueError(f"{' and '.join(stray)} can only be sent with a status transition")
        # The document states it (if/then), so it is checked with the body, before If-Match and the record.
        if self.status == ClaimStatus.DENIED and not (self.decision_reason or "").strip():
            raise ValueError("decision_reason is required to deny a claim.")
        return self


class DocumentResponse(Schema):
    id: UUID
    claim_id: UUID
    filename: str
    mime_type: str = Field(description="sniffed from the content")
    file_size: int
    sha256: str
    document_type: DocumentType
    uploaded_by_id: UUID | None
    created_at: dt.datetime
    download_url: str


class ClaimResponse(Schema):
    id: UUID
    claim_number: str
    policy_id: UUID
    claim_type: ClaimType
    claim_amount: Money
    description: str
    incident_date: dt.datetime
    reported_date: dt.datetime
    status: ClaimStatus
    approved_amount: Money | None
    decision_reason: str
    processed_date: dt.datetime | None
    assigned_to: UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
    # The claim's money (SPEC §10.4): see GET /api/claims/{claim_id}/financials.
    reserve_indemnity: Money = Field(description="open indemnity reserve")
    reserve_expense: Money = Field(description="open expense reserve")
    paid_indemnity: Money = Field(description="indemnity issued (voids deducted)")
    paid_expense: Money = Field(description="expense issued (voids deducted)")
    recovered: Money = Field(description="salvage, subrogation and other recoveries")
    gross_incurred: Money = Field(description="paid + open reserves")
    net_incurred: Money = Field(description="gross incurred - recovered")
    policy: PolicyResponse | None = Field(None, description="on the detail only")
    documents: list[DocumentResponse] | None = Field(None, description="on the detail only")


class ClaimFilter(Schema):
    policy_id: UUID | None = None
    customer_id: UUID | None = None
    status: ClaimStatus | None = None
    claim_type: ClaimType | None = None
    assigned_to: UUID | None = None
    incident_after: Moment | None = None
    incident_before: Moment | None = None


class ClaimPage(Page[ClaimResponse]):
    """A page of claims: {items, total, page, page_size, total_pages, has_next, has_previous}."""
