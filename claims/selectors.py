"""Claim reads for the API and the admin."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db.models import Prefetch, QuerySet

from claims.models import Claim, ClaimDocument
from policies.selectors import CUSTOMER_SUMMARY_FIELDS
from policies.selectors import ONLY_FIELDS as POLICY_ONLY_FIELDS
from vanguard.core.pagination import PageQuery, filter_shape, page_of

FIELDS = (
    "id",
    "claim_number",
    "policy_id",
    "claim_type",
    "claim_amount",
    "description",
    "incident_date",
    "reported_date",
    "status",
    "approved_amount",
    "decision_reason",
    "processed_date",
    "assigned_to",
    "created_at",
    "updated_at",
    # The money totals (SPEC §10.4), stored on the claim: a list shows them without reading any financial row.
    "reserve_indemnity",
    "reserve_expense",
    "paid_indemnity",
    "paid_expense",
    "recovered",
    "gross_incurred",
    "net_incurred",
)
MONEY_TOTALS = FIELDS[-7:]
CENT = Decimal("0.01")
DOCUMENT_FIELDS = (
    "id",
    "claim_id",
    "filename",
    "mime_type",
    "file_size",
    "sha256",
    "document_type",
    "uploaded_by_id",
    "created_at",
)


DOCUMENT_ONLY = tuple(name.removesuffix("_id") if name.endswith("_id") else name for name in DOCUMENT_FIELDS)


def claim_queryset(filters: Any = None) -> QuerySet[Claim]:
    qs = Claim.objects.order_by("-created_at", "-id")
    if filters is None:
        return qs
    if filters.policy_id:
        qs = qs.filter(policy_id=filters.policy_id)
    if filters.customer_id:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.claim_type:
        qs = qs.filter(claim_type=filters.claim_type)
    if filters.assigned_to:
        qs = qs.filter(assigned_to_id=filters.assigned_to)
    if filters.incident_after:
        qs = qs.filter(incident_date__gte=filters.incident_after)
    if filters.incident_before:
        qs = qs.filter(incident_date__lt=filters.incident_before)
    return qs


def claim_list(*, filters: Any, params: PageQuery) -> dict[str, Any]:
    return page_of(claim_queryset(filters), params, fields=FIELDS, shape=filter_shape("claims", filters))


def document_row(document: ClaimDocument) -> dict[str, Any]:
    row = {name: getattr(document, name) for name in DOCUMENT_FIELDS}
    row["download_url"] = f"/api/claims/{document.claim_id}/documents/{document.pk}"
    return row


def claim_get(*, claim_id: UUID) -> Claim:
    """The claim with its policy (and the policy's customer summary) joined and its documents prefetched:
    two queries, and nothing a response reads is loaded lazily (Claim.DoesNotExist → 404)."""
    only = [
        *(f for f in FIELDS if f not in {"policy_id", "assigned_to"}),
        "policy",
        "assigned_to",
        *(f"policy__{f}" for f in POLICY_ONLY_FIELDS),
        *(f"policy__customer__{f}" for f in CUSTOMER_SUMMARY_FIELDS),
    ]
    return (
        Claim.objects.select_related("policy__customer")
        .only(*only)
        .prefetch_related(
            Prefetch("documents", queryset=ClaimDocument.objects.only(*DOCUMENT_ONLY).order_by("-created_at"))
        )
        .get(pk=claim_id)
    )


def claim_row(claim: Claim, *, detail: bool = True) -> dict[str, Any]:
    from policies.selectors import policy_row

    row = {name: getattr(claim, name) for name in FIELDS if name != "assigned_to"}
    row["assigned_to"] = claim.assigned_to_id
    for name in MONEY_TOTALS:  # two places, as the Money component says, also on a row the service just built
        row[name] = Decimal(row[name]).quantize(CENT)
    if detail:
        row["policy"] = policy_row(claim.policy)
        row["documents"] = [document_row(d) for d in claim.documents.all()]
    return row


def new_claim_row(claim: Claim) -> dict[str, Any]:
    """The detail body of a claim `claims.services.claim_create` just returned, without reading it again: its
    policy was loaded with the customer's summary columns, and a new claim has no documents yet."""
    from policies.selectors import policy_row

    row = claim_row(claim, detail=False)
    row["policy"] = policy_row(claim.policy)
    row["documents"] = []
    return row


def document_get(*, claim_id: UUID, document_id: UUID) -> ClaimDocument:
    return ClaimDocument.objects.only("id", "claim", "filename", "file", "mime_type", "file_size").get(
        pk=document_id, claim_id=claim_id
    )
