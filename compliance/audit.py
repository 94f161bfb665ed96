"""django-auditlog registration for every domain model and the staff user (SPEC §7.1).

Encrypted fields are masked with `customers.pii.audit_mask`, which writes "[redacted]" and keeps no part
of the value (auditlog's default mask keeps half of it).
"""

from __future__ import annotations

from auditlog.registry import auditlog
from django.apps import apps

MASK = "customers.pii.audit_mask"


def register_models() -> None:
    Customer = apps.get_model("customers", "Customer")
    auditlog.register(
        Customer,
        exclude_fields=["updated_at"],
        mask_fields=["phone", "date_of_birth", "address", "ssn", "ssn_hash"],
        mask_callable=MASK,
    )
    for label in ("policies.Policy", "policies.PolicyEvent", "claims.Claim", "claims.ClaimDocument",
                  "claims.ClaimEvent"):
        auditlog.register(apps.get_model(label), exclude_fields=["updated_at"])
    auditlog.register(
        apps.get_model("accounts", "User"),
        exclude_fields=["updated_at", "last_login"],
        mask_fields=["password"],
        mask_callable=MASK,
    )
