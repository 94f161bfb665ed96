"""Compliance services (SPEC §5, §7), one module per sub-domain:

- `pii_access`: the PII access log (who saw which personal data in clear).
- `export`: the GDPR subject-access export, from `compliance.selectors` and `customers.schemas.CustomerExport`.
- `erasure`: the legal hold and the GDPR erasure (the other apps' rows through their own services).
- `retention`: the retention rule and the job that erases the customers it makes due.
- `verification`: records of the audit chain's verification runs.
- `rotation`: encryption key rotation (the batch loop of `manage.py rotate_encryption_key`).

The public names are re-exported here, so `from compliance import services` and
`from compliance.services import customer_erase` keep working. (`_needles` too: the erasure-scan tests read the
rule directly.)
"""

from compliance.services.erasure import (
    ADDRESS_WORDS,
    ERASED_NAME,
    GENERIC_MAILBOXES,
    HOLDING_CLAIM_STATUSES,
    HOLDING_POLICY_STATUSES,
    NAME_FIELDS,
    NAME_PARTICLES,
    PERSONAL_FIELDS,
    UK_POSTCODE,
    _needles,
    customer_erase,
    customer_legal_hold,
)
from compliance.services.export import ALL_PII_FIELDS, EXPORT_FORMAT, customer_export
from compliance.services.pii_access import INTERFACES, customer_read_recorded, pii_access_record
from compliance.services.retention import customers_due_for_erasure, customers_enforce_retention
from compliance.services.rotation import (
    KeyRotationError,
    RotationResult,
    VerificationResult,
    encryption_key_rotate,
    encryption_key_verify,
)
from compliance.services.verification import audit_checkpoint_record, audit_verification_record

__all__ = [
    "ADDRESS_WORDS",
    "ALL_PII_FIELDS",
    "ERASED_NAME",
    "EXPORT_FORMAT",
    "GENERIC_MAILBOXES",
    "HOLDING_CLAIM_STATUSES",
    "HOLDING_POLICY_STATUSES",
    "INTERFACES",
    "NAME_FIELDS",
    "NAME_PARTICLES",
    "PERSONAL_FIELDS",
    "UK_POSTCODE",
    "KeyRotationError",
    "RotationResult",
    "VerificationResult",
    "_needles",
    "audit_checkpoint_record",
    "audit_verification_record",
    "customer_erase",
    "customer_export",
    "customer_legal_hold",
    "customer_read_recorded",
    "customers_due_for_erasure",
    "customers_enforce_retention",
    "encryption_key_rotate",
    "encryption_key_verify",
    "pii_access_record",
]
