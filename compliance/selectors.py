"""Compliance reads: the audit chain's status (the readiness probe and the admin) and the rows of the GDPR
subject-access export (compliance.services.export)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.contrib.contenttypes.models import ContentType
from django.db.models import F
from django.utils import timezone

from claims.models import Claim, ClaimDocument, ClaimEvent, ClaimPayment
from compliance.chain import seal_bound
from compliance.models import AuditEntry, AuditVerification, FormerPersonalValue, PIIAccessLog
from customers.models import Customer
from policies.models import Policy, PolicyEvent

# The verification runs daily (SPEC §5); a result older than this means the job stopped running.
VERIFICATION_OVERDUE_AFTER = dt.timedelta(hours=36)


def audit_chain_status(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """The last audit-chain verification as a readiness note: ``ok`` is True (intact), False (broken: the
    job logged the break at ERROR), or None (never verified, or overdue). One indexed query. The detail
    names no entry: the probe is unauthenticated, the break is in the log and in the admin.
    An audit entry left unsealed beyond the bound (the sealer is not running) is noted as broken at once,
    without waiting for the daily verification; one more query, on the partial index of unsealed entries."""
    now = now or timezone.now()
    last = (
        AuditVerification.objects.order_by("-created_at", "-id").only("ok", "entries", "breaks", "created_at").first()
    )
    if AuditEntry.objects.filter(seq__isnull=True, timestamp__lt=now - seal_bound()).order_by().exists():
        return {
            "ok": False,
            "verified_at": last.created_at.isoformat() if last else None,
            "detail": (
                "BROKEN: audit entries are not being sealed within the bound (the sealer stopped, or it "
                "refused altered entries: run manage.py verify_audit_chain)"
            ),
        }
    if last is None:
        return {"ok": None, "verified_at": None, "detail": "not verified yet (run manage.py verify_audit_chain)"}
    verified_at = last.created_at.isoformat()
    if not last.ok:
        return {
            "ok": False,
            "verified_at": verified_at,
            "detail": f"BROKEN: {last.breaks} break(s) found in {last.entries} entries at the last verification",
        }
    if now - last.created_at > VERIFICATION_OVERDUE_AFTER:
        return {
            "ok": None,
            "verified_at": verified_at,
            "detail": "overdue: the last verification (intact) is more than 36 hours old",
        }
    return {"ok": True, "verified_at": verified_at, "detail": f"intact: {last.entries} entries"}


# --- the GDPR subject-access export (compliance.services.export) ------------------------------------------------
# Each reader returns one section of the export as rows keyed by the names of its schema
# (customers.schemas.CustomerExport), in the export's order; the schema types and renders them. One query per
# table, as the prefetches of the hand-built export made.

PROFILE_FIELDS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "date_of_birth",
    "address",
    "ssn",
    "pii_encrypted",
    "created_at",
    "updated_at",
    "erased_at",
)
CONSENT_FIELDS = ("gdpr_consent", "gdpr_consent_date", "gdpr_consent_withdrawn_at", "data_retention_date")
# An event of a policy or a claim: the schema's "from", "to" and "at" are the row's statuses and time.
EVENT_FIELDS = ("kind", "reason", "data")
EVENT_RENAMED = {"from": F("from_status"), "to": F("to_status"), "at": F("created_at")}
# A payment to the policyholder: what was paid, to whom and when; not who on the staff handled it.
EXPORT_PAYMENT_FIELDS = (
    "payment_number",
    "cost_type",
    "amount",
    "payee_name",
    "payee_account",
    "method",
    "reference",
    "status",
    "requested_at",
    "approved_at",
    "issued_at",
    "cancelled_at",
    "voided_at",
)


def customer_export_profile(*, customer_id: UUID) -> tuple[dict[str, Any], dict[str, Any]]:
    """The customer's profile (personal data in clear) and consent, as two rows. Raises
    `Customer.DoesNotExist`."""
    row = Customer.objects.values(*PROFILE_FIELDS, *CONSENT_FIELDS).get(pk=customer_id)
    return {name: row[name] for name in PROFILE_FIELDS}, {name: row[name] for name in CONSENT_FIELDS}


def _grouped(rows: Iterable[dict[str, Any]], key: str) -> dict[Any, list[dict[str, Any]]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row.pop(key)].append(row)
    return groups


def customer_export_policies(*, customer_id: UUID) -> list[dict[str, Any]]:
    """The customer's policies (by start date, then number), each with its events in the order they happened."""
    policies = list(
        Policy.objects.filter(customer_id=customer_id)
        .order_by("start_date", "policy_number")
        .values(
            "id",
            "policy_number",
            "policy_type",
            "status",
            "premium_amount",
            "coverage_amount",
            "start_date",
            "end_date",
            "cancellation_reason",
            "cancelled_at",
            "renewal_of_id",
            "created_at",
        )
    )
    if not policies:
        return []
    events = _grouped(
        PolicyEvent.objects.filter(policy_id__in=[p["id"] for p in policies])
        .order_by("created_at", "pk")
        .values("policy_id", *EVENT_FIELDS, **EVENT_RENAMED),
        "policy_id",
    )
    for policy in policies:
        policy["renewal_of"] = policy.pop("renewal_of_id")  # "renewal_of" itself would read the related policy
        policy["events"] = events.get(policy["id"], [])
    return policies


def customer_export_claims(*, customer_id: UUID) -> list[dict[str, Any]]:
    """The customer's claims (by reported date, then number) with their policy's number, their events in the
    order they happened, their documents' metadata in upload order and the payments made to the policyholder in
    the order they were requested (the payee's account decrypted: it is the person's own)."""
    claims = list(
        Claim.objects.filter(policy__customer_id=customer_id)
        .order_by("reported_date", "claim_number")
        .values(
            "id",
            "claim_number",
            "claim_type",
            "status",
            "claim_amount",
            "approved_amount",
            "description",
            "decision_reason",
            "incident_date",
            "reported_date",
            "processed_date",
            policy_number=F("policy__policy_number"),
        )
    )
    if not claims:
        return []
    ids = [c["id"] for c in claims]
    events = _grouped(
        ClaimEvent.objects.filter(claim_id__in=ids)
        .order_by("created_at", "pk")
        .values("claim_id", *EVENT_FIELDS, **EVENT_RENAMED),
        "claim_id",
    )
    documents = _grouped(
        ClaimDocument.objects.filter(claim_id__in=ids)
        .order_by("created_at", "pk")
        .values(
            "claim_id",
            "id",
            "filename",
            "document_type",
            "mime_type",
            "file_size",
            "sha256",
            uploaded_at=F("created_at"),
        ),
        "claim_id",
    )
    # Only payments to the policyholder: a third party's name and account (a garage, a lawyer) are that party's
    # data, not the customer's, and a subject-access export must not disclose them (SPEC §7.2, §10.2).
    payments = _grouped(
        ClaimPayment.objects.filter(claim_id__in=ids, payee_is_policyholder=True)
        .order_by("requested_at", "pk")
        .values("claim_id", *EXPORT_PAYMENT_FIELDS),
        "claim_id",
    )
    for claim in claims:
        claim["events"] = events.get(claim["id"], [])
        claim["documents"] = documents.get(claim["id"], [])
        claim["payments"] = payments.get(claim["id"], [])
    return claims


def customer_record_history(*, customer_id: UUID) -> list[dict[str, Any]]:
    """The audit history of the customer record in chain order (pending entries last), each entry's action
    by its name."""
    names = dict(AuditEntry.Action.choices)
    rows = list(
        AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(Customer), object_pk=str(customer_id))
        .order_by(F("seq").asc(nulls_last=True), "pk")
        .values("seq", "action", "changes", at=F("timestamp"), by=F("actor_email"))
    )
    for row in rows:
        row["action"] = str(names.get(row["action"]))
    return rows


def customer_former_values(*, customer_id: UUID) -> list[dict[str, Any]]:
    """The former values of the customer's personal fields, kept encrypted for an erasure to find (oldest first)."""
    return list(
        FormerPersonalValue.objects.filter(customer_id=customer_id).values(
            "field", "value", replaced_at=F("created_at")
        )
    )


def customer_pii_accesses(*, customer_id: UUID) -> list[dict[str, Any]]:
    """Who (the staff member's e-mail) saw which of the customer's personal data, when and through what."""
    return list(
        PIIAccessLog.objects.filter(customer_id=customer_id)
        .order_by("created_at", "id")
        .values("interface", "fields", at=F("created_at"), by=F("actor__email"))
    )
