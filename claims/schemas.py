"""Claim and claim-document schemas of the API (SPEC §3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from django.utils import timezone
from ninja import Schema
from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, model_validator

from claims.models import ClaimStatus, ClaimType, DocumentType
from policies.schemas import PolicyResponse
from vanguard.api_support.schemas import Moment, Page

Amount = Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=2, allow_inf_nan=False)]


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
    Illegal transitions are 409; an approval above the caller's authority is 403."""

    model_config = ConfigDict(extra="forbid")

    status: ClaimStatus | None = None
    approved_amount: Amount | None = None
    decision_reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    assigned_to: UUID | None = Field(None, description="staff user id; null unassigns")

    @model_validator(mode="after")
    def _decision_fields_need_a_status(self) -> ClaimUpdate:
        # Without a transition they would be ignored in silence: refuse them instead (422).
        if self.status is None:
            stray = [name for name in ("approved_amount", "decision_reason") if getattr(self, name) is not None]
            if stray:
                raise ValueError(f"{' and '.join(stray)} can only be sent with a status transition")
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
    claim_amount: Decimal = Field(description="decimal string")
    description: str
    incident_date: dt.datetime
    reported_date: dt.datetime
    status: ClaimStatus
    approved_amount: Decimal | None = Field(description="decimal string")
    decision_reason: str
    processed_date: dt.datetime | None
    assigned_to: UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
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
