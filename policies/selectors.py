"""Policy reads for the API and the admin."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from policies.models import Policy
from vanguard.core.pagination import PageQuery, filter_shape, page_of
from vanguard.core.prepared import PreparedGet

FIELDS = (
    "id",
    "policy_number",
    "customer_id",
    "policy_type",
    "premium_amount",
    "coverage_amount",
    "start_date",
    "end_date",
    "status",
    "compliance_status",
    "last_audit_date",
    "cancellation_reason",
    "cancelled_at",
    "renewal_of_id",
    "created_at",
    "updated_at",
)
CUSTOMER_SUMMARY_FIELDS = ("id", "email", "first_name", "last_name")
ONLY_FIELDS = tuple(name.removesuffix("_id") if name.endswith("_id") else name for name in FIELDS)


def policy_queryset(filters: Any = None) -> QuerySet[Policy]:
    qs = Policy.objects.order_by("-created_at", "-id")
    if filters is None:
        return qs
    if filters.customer_id:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.policy_type:
        qs = qs.filter(policy_type=filters.policy_type)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.premium_min is not None:
        qs = qs.filter(premium_amount__gte=filters.premium_min)
    if filters.premium_max is not None:
        qs = qs.filter(premium_amount__lte=filters.premium_max)
    if filters.active_on:
        qs = qs.filter(
            start_date__lte=filters.active_on, end_date__gte=filters.active_on, status__in=Policy.CLAIMABLE_STATUSES
        )
    return qs


def policy_list(*, filters: Any, params: PageQuery) -> dict[str, Any]:
    return page_of(policy_queryset(filters), params, fields=FIELDS, shape=filter_shape("policies", filters))


def policy_row(policy: Policy, *, with_customer: bool = True) -> dict[str, Any]:
    """The PolicyResponse body of a policy loaded by `policy_get` (customer already joined)."""
    row = {name: getattr(policy, name) for name in FIELDS}
    if with_customer:
        row["customer"] = {name: getattr(policy.customer, name) for name in CUSTOMER_SUMMARY_FIELDS}
    return row


def policy_get(*, policy_id: UUID) -> Policy:
    """The policy with its customer's summary columns, in one query (Policy.DoesNotExist → 404).

    Only the summary columns of the customer are read: its encrypted PII is neither loaded nor decrypted.
    """
    return _POLICY_WITH_SUMMARY.get(policy_id)


# Compiled once per connection (vanguard.core.prepared): the API's detail read and the re-read after a change.
_POLICY_WITH_SUMMARY = PreparedGet(
    lambda: Policy.objects.select_related("customer").only(
        *ONLY_FIELDS, *(f"customer__{name}" for name in CUSTOMER_SUMMARY_FIELDS)
    )
)
