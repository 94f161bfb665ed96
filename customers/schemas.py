"""Customer schemas of the API (SPEC §3): CustomerCreate, CustomerUpdate, CustomerResponse, CustomerFilter."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import timezone
from ninja import Schema
from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, WithJsonSchema, model_validator

from customers import pii
from vanguard.api_support.schemas import Day, Flag, Moment, Page, QueryFlag, name_text, padded_pattern
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


def _e164(value: str) -> str:
    value = value.strip()
    if not _PHONE_RE.match(value):
        raise ValueError("Enter a phone number in E.164 form, e.g. +442071234567.")
    return value


def _not_future(value: dt.date | None) -> dt.date | None:
    if value is not None and value > timezone.localdate():
        raise ValueError("The date of birth cannot be in the future.")
    return value


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]
Name = name_text(100)
# E.164 (ASCII digits; "" clears), surrounding whitespace stripped: the documented pattern says so too.
_PHONE = r"(\+?[1-9][0-9]{1,14})?"
_PHONE_RE = re.compile(f"^{_PHONE}$")
Phone = Annotated[str, AfterValidator(_e164), WithJsonSchema({"type": "string", "pattern": padded_pattern(_PHONE)})]
Address = Annotated[str, StringConstraints(max_length=500)]
Ssn = Annotated[str, Field(max_length=32), AfterValidator(str.strip)]  # the length as sent, stored stripped
BirthDate = Annotated[Day, AfterValidator(_not_future)]


class CustomerCreate(Schema):
    model_config = ConfigDict(extra="forbid")

    email: Email
    first_name: Name
    last_name: Name
    phone: Phone = Field("", description="E.164, e.g. +442071234567")
    date_of_birth: BirthDate | None = None
    address: Address = ""
    ssn: Ssn = Field("", description="national id; stored encrypted, never returned in full")
    gdpr_consent: Flag = Field(..., description="a JSON boolean; must be true (400 otherwise)")


class CustomerUpdate(Schema):
    model_config = ConfigDict(extra="forbid")

    # Names and consent cannot be cleared: omit them to keep them (null is refused, and documented so).
    first_name: Name = None
    last_name: Name = None
    phone: Phone | None = Field(None, description="null or \"\" clears it")
    address: Address | None = Field(None, description="null or \"\" clears it")
    gdpr_consent: Flag = Field(None, description="a JSON boolean; false withdraws consent (recorded)")


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
    email: Annotated[str, StringConstraints(max_length=254)] | None = Field(
        None, description="exact, any case. Deprecated: the address travels in the URL (proxy logs, browser "
        "history); use POST /api/customers/search", json_schema_extra={"deprecated": True},
    )
    first_name: Annotated[str, StringConstraints(max_length=100)] | None = Field(None, description="contains")
    last_name: Annotated[str, StringConstraints(max_length=100)] | None = Field(None, description="contains")
    search: Annotated[str, StringConstraints(max_length=254)] | None = Field(None, description="name or email contains")
    gdpr_consent: QueryFlag | None = None
    created_after: Moment | None = None
    created_before: Moment | None = None


class CustomerSearch(Schema):
    """Find customers by e-mail and/or national id. The values travel in the body, never in the URL."""

    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, StringConstraints(max_length=254)] | None = Field(
        None, description="exact, any case; look-alike forms (full-width, zero-width characters) match"
    )
    ssn: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        None, description="exact national id; spaces, dashes and case do not matter ('123-45-6789' = '123456789')"
    )

    @model_validator(mode="after")
    def _email_or_ssn(self):
        if not normalise_email(self.email) and not pii.normalise_ssn(self.ssn or ""):
            raise ValueError("Give an email, an ssn, or both.")
        return self


class CustomerErased(Schema):
    id: UUID
    status: str = Field(description="'erased'")
    erased_at: dt.datetime


class CustomerPage(Page[CustomerResponse]):
    """A page of customers: {items, total, page, page_size, total_pages, has_next, has_previous}."""
