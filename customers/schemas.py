"""Customer schemas of the API (SPEC §3): CustomerCreate, CustomerUpdate, CustomerResponse, CustomerFilter."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import timezone
from ninja import Schema
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from customers import pii
from vanguard.api_support.schemas import Day, Flag, Moment, Money, Page, QueryFlag, name_text, padded_pattern
from vanguard.core.emails import normalise_email

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


# `format: email` so generated clients and fuzzers send addresses; Django's validator is the stricter judge.
Email = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": EMAIL_MAX}),
]
Name = name_text(100)
# E.164 (ASCII digits; "" clears), surrounding whitespace stripped: the documented pattern says so too.
_PHONE = r"(\+?[1-9][0-9]{1,14})?"
_PHONE_RE = re.compile(f"^{_PHONE}$")
Phone = Annotated[str, AfterValidator(_e164), WithJsonSchema({"type": "string", "pattern": padded_pattern(_PHONE)})]
Address = Annotated[str, StringConstraints(max_length=500)]


def _national_id(value: str) -> str:
    value = value.strip()
    try:
        pii.validate_national_id(value)
    except DjangoValidationError as exc:
        raise ValueError(pii.NATIONAL_ID_ERROR) from exc
    return value


# The length as sent, stored stripped; the format the model validates (customers.pii), documented as a pattern.
Ssn = Annotated[
    str,
    Field(max_length=32),
    AfterValidator(_national_id),
    WithJsonSchema({"type": "string", "maxLength": 32, "pattern": padded_pattern(pii.NATIONAL_ID_PATTERN)}),
]
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
    phone: Phone | None = Field(None, description='null or "" clears it')
    address: Address | None = Field(None, description='null or "" clears it')
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
        None,
        description="exact, any case. Deprecated: the address travels in the URL (proxy logs, browser "
        "history); use POST /api/customers/search",
        json_schema_extra={"deprecated": True},
    )
    first_name: Annotated[str, StringConstraints(max_length=100)] | None = Field(None, description="contains")
    last_name: Annotated[str, StringConstraints(max_length=100)] | None = Field(None, description="contains")
    search: Annotated[str, StringConstraints(max_length=254)] | None = Field(None, description="name or email contains")
    gdpr_consent: QueryFlag | None = None
    created_after: Moment | None = None
    created_before: Moment | None = None


class CustomerSearch(Schema):
    """Find customers by e-mail and/or national id. The values travel in the body, never in the URL."""

    # At least one of the two (an empty body is a 422), documented as such.
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"anyOf": [{"required": ["email"]}, {"required": ["ssn"]}]}
    )

    # Each value must hold something its normalisation keeps (an @; a letter or digit), so a value the document
    # accepts is never "nothing given". null is refused: leave the field out instead.
    email: Annotated[str, StringConstraints(max_length=254, pattern="[@\uff20\ufe6b]")] = Field(
        None, description="exact, any case; look-alike forms (full-width, zero-width characters) match"
    )
    ssn: Annotated[str, StringConstraints(max_length=32, pattern="[0-9A-Za-z]")] = Field(
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


# --- GDPR subject-access export (compliance.services.export.customer_export; SPEC §7.2) --------------------------
# One model per section. The service validates the rows its selectors read (compliance.selectors, keyed by these
# names) into `CustomerExport` and renders it with `model_dump(mode="json", by_alias=True)`; the API documents the
# same models. Every key, nothing else (extra="forbid"): a selector row with a stray or a missing key fails, and
# tests/api/test_fuzz_findings.py validates a real export against them.

# Moments are rendered as Python's isoformat ("+00:00"), as the export always wrote them, not pydantic's "Z".
# (A lambda: a serializer with a return annotation would change the documented schema from date-time to string.)
ExportMoment = Annotated[dt.datetime, PlainSerializer(lambda value: value.isoformat(), when_used="json")]
# An empty text is exported as null ("no phone"), as the export always wrote it.
ExportText = Annotated[str | None, BeforeValidator(lambda value: value or None)]


class _Exported(Schema):
    model_config = ConfigDict(extra="forbid")


class ExportMeta(_Exported):
    generated_at: ExportMoment
    format: Literal["vanguard-subject-access/1"]
    requested_through: Literal["admin", "api"] = Field(description="the interface that asked for it")


class ExportedCustomer(_Exported):
    """The profile with its personal data in clear."""

    id: UUID
    email: str
    first_name: str
    last_name: str
    phone: ExportText
    date_of_birth: dt.date | None
    address: ExportText
    ssn: ExportText = Field(description="the national id in full")
    pii_encrypted: bool
    created_at: ExportMoment
    updated_at: ExportMoment
    erased_at: ExportMoment | None


class ConsentChange(_Exported):
    at: ExportMoment
    changes: dict[str, Any] = Field(description="the consent fields that changed: [old, new] as recorded")


class ExportedConsent(_Exported):
    gdpr_consent: bool
    gdpr_consent_date: ExportMoment | None
    gdpr_consent_withdrawn_at: ExportMoment | None
    data_retention_date: ExportMoment | None
    history: list[ConsentChange]


class ExportedEvent(_Exported):
    kind: str
    from_: ExportText = Field(alias="from")
    to: ExportText
    reason: ExportText
    data: Any = Field(description="details recorded with the event (JSON)")
    at: ExportMoment


class ExportedPolicy(_Exported):
    id: UUID
    policy_number: str
    policy_type: str
    status: str
    premium_amount: Money
    coverage_amount: Money
    start_date: ExportMoment
    end_date: ExportMoment
    cancellation_reason: ExportText
    cancelled_at: ExportMoment | None
    renewal_of: UUID | None
    created_at: ExportMoment
    events: list[ExportedEvent]


class ExportedDocument(_Exported):
    id: UUID
    filename: str
    document_type: str
    mime_type: str
    file_size: int
    sha256: str
    uploaded_at: ExportMoment


class ExportedPayment(_Exported):
    """A payment to the policyholder on one of their claims: who was paid is the person."""

    payment_number: str
    cost_type: str
    amount: Money
    payee_name: str
    payee_account: ExportText = Field(description="the account in full (the person's own); null when none")
    method: str
    reference: ExportText
    status: str
    requested_at: ExportMoment
    approved_at: ExportMoment | None
    issued_at: ExportMoment | None
    cancelled_at: ExportMoment | None
    voided_at: ExportMoment | None


class ExportedClaim(_Exported):
    id: UUID
    claim_number: str
    policy_number: str
    claim_type: str
    status: str
    claim_amount: Money
    approved_amount: Money | None
    description: str
    decision_reason: ExportText
    incident_date: ExportMoment
    reported_date: ExportMoment
    processed_date: ExportMoment | None
    events: list[ExportedEvent]
    documents: list[ExportedDocument]
    payments: list[ExportedPayment] = Field(
        description="payments to the policyholder only; a third party's payee and account are not their data"
    )


class ExportedHistoryEntry(_Exported):
    seq: int | None = Field(description="its place in the audit chain; null while not yet sealed")
    at: ExportMoment
    action: str
    changes: Any = Field(description="the changed fields as recorded (JSON)")
    by: str | None = Field(description="the staff member's e-mail; null for the system")


class FormerValue(_Exported):
    field: str
    value: str
    replaced_at: ExportMoment


class PIIAccess(_Exported):
    at: ExportMoment
    by: str = Field(description="the staff member's e-mail")
    interface: str
    fields: list[str]


class CustomerExport(_Exported):
    """Everything held about the person: profile, consent and its history, policies and claims with their
    events, documents (metadata) and the payments made to them, the customer record's audit history, the former
    values of their personal fields (kept encrypted so an erasure can find them) and who saw their personal data
    when."""

    export: ExportMeta
    customer: ExportedCustomer
    consent: ExportedConsent
    policies: list[ExportedPolicy]
    claims: list[ExportedClaim]
    record_history: list[ExportedHistoryEntry]
    former_values: list[FormerValue]
    pii_accesses: list[PIIAccess]


class CustomerPage(Page[CustomerResponse]):
    """A page of customers: {items, total, page, page_size, total_pages, has_next, has_previous}."""
