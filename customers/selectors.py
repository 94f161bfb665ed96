"""Customer reads for the API and the admin: lists as `.values()` rows, details as loaded instances."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from customers import pii
from customers.models import Customer
from vanguard.core.emails import normalise_email
from vanguard.core.pagination import PageQuery, filter_shape, page_of

LIST_FIELDS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "date_of_birth",
    "address",
    "ssn",
    "gdpr_consent",
    "pii_encrypted",
    "gdpr_consent_date",
    "gdpr_consent_withdrawn_at",
    "data_retention_date",
    "erased_at",
    "created_at",
    "updated_at",
)
CLEAR_PII_FIELDS = ("phone", "date_of_birth", "address")
# A list is always masked: it reads the masked columns the model keeps beside the encrypted ones, so a page decrypts
# nothing (the birth date is not shown at all).
MASKED_LIST_FIELDS = (
    *(name for name in LIST_FIELDS if name not in {"phone", "date_of_birth", "address", "ssn"}),
    "phone_masked",
    "address_masked",
    "ssn_last4",
)


def customer_queryset(filters: Any = None) -> QuerySet[Customer]:
    """Customers, newest first, narrowed by the API's CustomerFilter fields (any object with those attributes)."""
    qs = Customer.objects.order_by("-created_at", "-id")
    if filters is None:
        return qs
    if filters.email:
        # lower(email) = …: the expression the case-insensitive unique index is built on, so the index is used.
        qs = qs.alias(email_ci=Lower("email")).filter(email_ci=normalise_email(filters.email))
    if filters.first_name:
        qs = qs.filter(first_name__icontains=filters.first_name)
    if filters.last_name:
        qs = qs.filter(last_name__icontains=filters.last_name)
    if filters.search:
        term = filters.search.strip()
        qs = qs.filter(Q(first_name__icontains=term) | Q(last_name__icontains=term) | Q(email__icontains=term))
    if filters.gdpr_consent is not None:
        qs = qs.filter(gdpr_consent=filters.gdpr_consent)
    if filters.created_after:
        qs = qs.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        qs = qs.filter(created_at__lt=filters.created_before)
    return qs


def customer_row(row: dict[str, Any], *, clear: bool) -> dict[str, Any]:
    """The CustomerResponse body from a `.values()` row or a model's fields; SSN only as its last four."""
    ssn = row.pop("ssn", "")
    row["ssn_last4"] = pii.ssn_last4(ssn)
    row["pii_masked"] = not clear
    if not clear:
        row["phone"] = pii.mask_phone(row["phone"])
        row["address"] = pii.mask_text(row["address"])
        row["date_of_birth"] = None
    return row


def masked_row(row: dict[str, Any]) -> dict[str, Any]:
    """The CustomerResponse body of a list, from a `.values(*MASKED_LIST_FIELDS)` row: what customer_row(clear=False)
    gives for the same customer, read from the masked columns instead of decrypted."""
    row["phone"] = row.pop("phone_masked")
    row["address"] = row.pop("address_masked")
    row["ssn_last4"] = row["ssn_last4"] or None
    row["date_of_birth"] = None
    row["pii_masked"] = True
    return row


def customer_list(*, filters: Any, params: PageQuery) -> dict[str, Any]:
    """One page of customers. Contact data is always masked in lists: clear PII is shown (and logged,
    SPEC §7.3) only on a customer's own detail, so a list never writes fifty access-log rows."""
    shape = filter_shape("customers", filters, personal=("email", "first_name", "last_name", "search"))
    return page_of(customer_queryset(filters), params, fields=MASKED_LIST_FIELDS, row=masked_row, shape=shape)


def customer_search(*, email: str | None, ssn: str | None, params: PageQuery) -> dict[str, Any]:
    """One page of the customers with this e-mail (exact, any case or look-alike form) and/or this national id
    (exact, through its blind index: punctuation and case do not matter). Both given: both must match.
    Masked like customer_list, for the same reason: a search result is a list, not a clear view of anyone."""
    email, ssn_digest = normalise_email(email), pii.ssn_hash(ssn)
    if not email and not ssn_digest:
        raise ValueError("customer_search needs an email or a national id")  # never "everyone" by mistake
    qs = Customer.objects.order_by("-created_at", "-id")
    if email:
        qs = qs.alias(email_ci=Lower("email")).filter(email_ci=email)
    if ssn_digest:  # never "": that is the hash of every customer without a national id
        qs = qs.filter(ssn_hash=ssn_digest)
    return page_of(qs, params, fields=MASKED_LIST_FIELDS, row=masked_row)


def customer_get(*, customer_id: UUID) -> Customer:
    """The customer or Customer.DoesNotExist (404)."""
    return Customer.objects.get(pk=customer_id)


def customer_detail(customer: Customer, *, clear: bool) -> dict[str, Any]:
    row = {name: getattr(customer, name) for name in LIST_FIELDS}
    return customer_row(row, clear=clear)


def clear_fields_shown(customer: Customer) -> list[str]:
    """The PII fields that a clear detail view actually reveals (non-empty)."""
    return [name for name in CLEAR_PII_FIELDS if getattr(customer, name) not in (None, "")]


def customers_sharing_national_id(*, customer: Customer, limit: int = 5) -> list[Customer]:
    """Other live customers whose national id is the same as this one's (through the blind index), newest first.

    Two people do not share a national id, but a mistyped one or a customer entered twice does: the admin
    warns with these. Only names are read: the encrypted columns are not fetched."""
    if not customer.ssn_hash:
        return []
    return list(
        Customer.objects.filter(ssn_hash=customer.ssn_hash, erased_at__isnull=True)
        .exclude(pk=customer.pk)
        .only("id", "first_name", "last_name")
        .order_by("-created_at")[:limit]
    )
