"""Policy schemas of the API (SPEC §3)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field, StringConstraints, model_validator

from policies.models import ComplianceStatus, PolicyStatus, PolicyType
from vanguard.api_support.schemas import Moment, Money, MoneyIn, Page, PremiumIn, text_required_when

# The columns: premium Decimal(10,2), coverage Decimal(15,2).
Premium = PremiumIn
Coverage = MoneyIn


class PolicyCreate(Schema):
    model_config = ConfigDict(extra="forbid")

    customer_id: UUID
    policy_type: PolicyType
    premium_amount: Premium = Field(description="decimal, number or string; ≥ the type's minimum (400)")
    coverage_amount: Coverage
    start_date: Moment = Field(description="ISO 8601 with a time zone; back-dating is allowed")
    end_date: Moment

    @model_validator(mode="after")
    def _dates_in_order(self):
        if self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date.")
        return self


class PolicyUpdate(Schema):
    """Amendments and, with `status`, a transition: active (issue/reinstate), inactive (suspend),
    cancelled (needs `reason`), expired (only after the end date). Anything else is a 409."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=text_required_when(
            "status",
            PolicyStatus.CANCELLED.value,
            "reason",  # policy_cancel's 422
        ),
    )

    premium_amount: Premium | None = None
    coverage_amount: Coverage | None = None
    end_date: Moment | None = None
    status: PolicyStatus | None = None
    reason: Annotated[str, StringConstraints(max_length=2000)] = Field(
        "", description="reason recorded with a status change (required to cancel)"
    )
    effective_date: Moment | None = Field(None, description="cancellation effective date (default now)")

    @model_validator(mode="after")
    def _cancelling_needs_a_reason(self) -> PolicyUpdate:
        # The document states it (if/then), so it is checked with the body, before If-Match and the record.
        if self.status == PolicyStatus.CANCELLED and not self.reason.strip():
            raise ValueError("reason is required to cancel a policy.")
        return self


class PolicyRenew(Schema):
    model_config = ConfigDict(extra="forbid")

    start_date: Moment | None = Field(None, description="default: the old term's end")
    end_date: Moment | None = Field(None, description="default: same length as the old term")
    premium_amount: Premium | None = None
    coverage_amount: Coverage | None = None

    @model_validator(mode="after")
    def _dates_in_order(self):
        if self.start_date and self.end_date and self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date.")
        return self


class CustomerSummary(Schema):
    id: UUID
    email: str
    first_name: str
    last_name: str


class PolicyResponse(Schema):
    id: UUID
    policy_number: str
    customer_id: UUID
    policy_type: PolicyType
    premium_amount: Money
    coverage_amount: Money
    start_date: dt.datetime
    end_date: dt.datetime
    status: PolicyStatus
    compliance_status: ComplianceStatus
    last_audit_date: dt.datetime | None
    cancellation_reason: str
    cancelled_at: dt.datetime | None
    renewal_of_id: UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
    customer: CustomerSummary | None = Field(None, description="on the detail only")


class PolicyFilter(Schema):
    customer_id: UUID | None = None
    policy_type: PolicyType | None = None
    status: PolicyStatus | None = None
    premium_min: Premium | None = None
    premium_max: Premium | None = None
    active_on: Moment | None = Field(
        None, description="in force at this instant: the term contains it and the policy is active, inactive or expired"
    )


class PolicyPage(Page[PolicyResponse]):
    """A page of policys: {items, total, page, page_size, total_pages, has_next, has_previous}."""
