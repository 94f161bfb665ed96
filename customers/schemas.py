"""Customer schemas of the API (SPEC §3): CustomerCreate, CustomerUpdate, CustomerResponse, CustomerFilter."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import timezone
from ninja import Schema
from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, model_validator

from vanguard.api_support.schemas import Moment, Page
from vanguard.emails import normalise_email

EMAIL_MAX = 254


def _email(value: str) -> str:
    value = normalise_email(value)  # before validation, so a look-alike is validated (and stored) as the plain form
    if len(value) > EMAIL_MAX:  # NFKC may lengthen ('\u2474' is '(1)')
        raise ValueError(f"Ensure this value has at most {EMAIL_MAX} characters.")
    try:
        validate_email(value)
    except DjangoValidationError as exc:
        raise ValueError("Enter a valid email address.") from exc
    return value


def _not_future(value: dt.date | None) -> dt.date | None:
    if value is not None and value > timezone.localdate():
        raise ValueError("The date of birth cannot be in the future.")
    return value


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(\+?[1-9]\d{1,14})?$")]
Address = Annotated[str, StringConstraints(max_length=500)]
Ssn = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)]
BirthDate = Annotated[dt.date, AfterValidator(_not_future)]


class CustomerCreate(Schema):
    model_config = ConfigDict(extra="forbid")

    email: Email
    first_name: Name
    last_name: Name
    phone: Phone = Field("", description="E.164, e.g. +442071234567")
    date_of_birth: BirthDate | None = None
    address: Address = ""
    ssn: Ssn = Field("", description="national id; stored encrypted, never returned in full")
    gdpr_consent: bool = Field(..., description="must be true (400 otherwise)")


class CustomerUpdate(Schema):
    model_config = ConfigDict(extra="forbid")

    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    address: Address | None = None
    gdpr_consent: bool | None = Field(None, description="false withdraws consent (recorded)")

    @model_validator(mode="after")
    def _no_null_required(self):
        for name in ("first_name", "last_name", "gdpr_consent"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null.")
        return self


class CustomerResponse(Schema):
    id: UUID
    email: str
    first_name: str
    last_name: str
    phone: str = Field(description="in clear with customers.view_pii, else masked ('+44 ****** 789')")
    date_of_birth: dt.date | None = Field(description="null when masked (see pii_masked)")
    address: str = Field(description="in clear with customers.view_pii, else masked")
    ssn_last4: str | None = Field(description="last four characters of the national id; never the full value")
    gdpr_consent: bool
    pii_encrypted: bool
    pii_masked: bool = Field(description="true when contact data is masked for this caller")
    gdpr_consent_date: dt.datetime | None
    gdpr_consent_withdrawn_at: dt.datetime | None
    data_retention_date: dt.datetime | None
    erased_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerFilter(Schema):
    email: Annotated[str, StringConstraints(max_length=254)] | None = Field(None, description="exact, any case")
    first_name: Annotated[str, StringConstraints(max_length=100)] | None = Field(None, description="contains")
    last_name: Annotated[str, StringConstraints(max_length=100)] | None = Field(None, description="contains")
    search: Annotated[str, StringConstraints(max_length=254)] | None = Field(None, description="name or email contains")
    gdpr_consent: bool | None = None
    created_after: Moment | None = None
    created_before: Moment | None = None


class CustomerErased(Schema):
    id: UUID
    status: str = Field(description="'erased'")
    erased_at: dt.datetime


class CustomerPage(Page[CustomerResponse]):
    """A page of customers: {items, total, page, page_size, total_pages, has_next, has_previous}."""
