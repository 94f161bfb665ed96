"""The GDPR subject-access export (SPEC §7.2): everything held about a person, as one JSON document.

The rows come from the selectors (`compliance.selectors.customer_export_*`, keyed by the schema's names), the
shape and the rendering from the schema (`customers.schemas.CustomerExport`, one model per section, the same
models the API documents): no key of the document is written here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.utils import timezone

from compliance import selectors
from compliance.services.pii_access import _check_interface, pii_access_record
from customers.schemas import CustomerExport
from vanguard.accounts.permissions import require

if TYPE_CHECKING:
    from vanguard.accounts.models import User

EXPORT_FORMAT = "vanguard-subject-access/1"
ALL_PII_FIELDS = ["email", "first_name", "last_name", "phone", "date_of_birth", "address", "ssn"]
# The fields of a consent change, as recorded in the customer's audit history.
CONSENT_FIELDS = ("gdpr_consent", "gdpr_consent_date", "gdpr_consent_withdrawn_at", "data_retention_date")


def _consent_history(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries of the record's history that changed the consent, with only the consent fields."""
    return [
        {"at": row["at"], "changes": {name: row["changes"][name] for name in CONSENT_FIELDS if name in row["changes"]}}
        for row in history
        if isinstance(row["changes"], dict) and "gdpr_consent" in row["changes"]
    ]


def customer_export(
    *, actor: User, customer_id: UUID, interface: str, remote_addr: str | None = None
) -> dict[str, Any]:
    """GDPR subject-access export (SPEC §7.2): everything held about the person, JSON-serialisable.

    Profile with PII in clear, consent history (from the audit trail), policies with their events, claims
    with their events, document metadata and the payments made to the policyholder (their account in full,
    as the SSN is), the audit history of the customer record, the former values of their personal fields
    (kept for erasure), and who (the staff member's e-mail) saw which of their PII when and through which
    interface. Requires `customers.export_customer`; records one PII access row (interface "export"), naming
    `payee_account` too when a payment's account was exported in clear (as the admin payment page does).
    `interface` is the caller's ("admin" or "api"), kept in the export's metadata.
    """
    require(actor, "customers.export_customer", "export customers' personal data")
    _check_interface(interface)
    profile, consent = selectors.customer_export_profile(customer_id=customer_id)
    customer_id = profile["id"]
    policies = selectors.customer_export_policies(customer_id=customer_id)
    claims = selectors.customer_export_claims(customer_id=customer_id)
    history = selectors.customer_record_history(customer_id=customer_id)
    accesses = selectors.customer_pii_accesses(customer_id=customer_id)
    former_values = selectors.customer_former_values(customer_id=customer_id)
    export = CustomerExport.model_validate(
        {
            "export": {"generated_at": timezone.now(), "format": EXPORT_FORMAT, "requested_through": interface},
            "customer": profile,
            "consent": {**consent, "history": _consent_history(history)},
            "policies": policies,
            "claims": claims,
            "record_history": history,
            # Kept (encrypted) only so that an erasure can find them: still data held about the person.
            "former_values": former_values,
            "pii_accesses": accesses,
        }
    )
    shown_accounts = any(payment["payee_account"] for claim in claims for payment in claim["payments"])
    fields = [*ALL_PII_FIELDS, "payee_account"] if shown_accounts else ALL_PII_FIELDS
    pii_access_record(actor=actor, customer_id=customer_id, fields=fields, interface="export", remote_addr=remote_addr)
    return export.model_dump(mode="json", by_alias=True)
