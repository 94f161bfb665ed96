"""The OpenAPI document as product documentation (issue 8): what django-ninja cannot read from the code.

ninja builds the document from the routers (operationIds, docstrings, schemas, parameters). `document()`
then adds, in one place, what the layers in front of the endpoints and the shared write path do on every
operation: the response headers (X-Request-ID, X-RateLimit-*, Retry-After, ETag, Idempotent-Replayed),
the meaning of the If-Match and Idempotency-Key parameters, the `default` answer (405, 500), the examples of
every schema and operation, and a named component for the upload body.

Examples live here, keyed by component name, rather than in each app's schemas module: tests/api/
test_openapi_docs.py validates every one against its Pydantic schema, so a schema change that makes an
example wrong fails the build.
"""

from __future__ import annotations

import copy
import json
from typing import Any

PROBLEM_TYPE = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/ErrorResponse"}

TAGS: list[dict[str, str]] = [
    {
        "name": "auth",
        "description": "Log in with e-mail and password for a short-lived JWT access token and a "
        "refresh token; refresh rotates the pair (the old refresh token is blacklisted); logout revokes it. "
        "Repeated failed logins lock the account for a while (429 with Retry-After).",
    },
    {
        "name": "customers",
        "description": "Policyholders. Creating one needs GDPR consent; contact data is "
        "encrypted at rest and masked for callers without `customers.view_pii` (each clear view is logged). "
        "Subject-access export and erasure (refused under a legal hold) are here too.",
    },
    {
        "name": "policies",
        "description": "Insurance policies: written for a customer, amended, moved through "
        "their lifecycle (pending, active, inactive, cancelled, expired) and renewed for the next term.",
    },
    {
        "name": "claims",
        "description": "Claims against a policy, their documents, and their decisions: "
        "processing, approval (within the caller's authority limit), denial, payment and closure.",
    },
    {
        "name": "claim financials",
        "description": "A claim's money: reserves (what the claim is still expected to cost, per cost type: "
        "indemnity and expense), payments under four-eyes control (requested, approved by a second person above the "
        "limit, issued by Finance; cancelled before issue, voided after it) and recoveries "
        "(salvage, subrogation). Rows are never edited: a mistake is corrected by a new row. Payee accounts are stored "
        "encrypted and answered only as their last 4 characters.",
    },
    {
        "name": "audit",
        "description": "The tamper-evident audit trail of every change, and the log of every "
        "view of personal data in clear (`resource_type=pii_access`). Read-only.",
    },
]

LICENSE = {"name": "Apache-2.0", "identifier": "Apache-2.0"}  # the project's LICENSE file

# A relative URL: the API is served under /api/ of whichever host serves this document.
SERVERS = [{"url": "/", "description": "The host that serves this document"}]

_STRING = {"type": "string"}
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The id of this request: the caller's own X-Request-ID when it is 1-64 characters of "
        "`A-Za-z0-9._:-`, otherwise a new one. It is the problem document's `correlation_id`; quote it "
        "when reporting a problem.",
        "required": True,
        "schema": _STRING,
        "example": "3f0c1a2b9d8e4f6a8b7c6d5e4f3a2b1c",
    },
    "X-RateLimit-Limit": {
        "description": "Requests allowed in the current window (per user; per address before login).",
        "schema": _STRING,
        "example": "600",
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": _STRING,
        "example": "598",
    },
    "X-RateLimit-Reset": {
        "description": "Seconds until the current window ends.",
        "schema": _STRING,
        "example": "42",
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": _STRING,
        "example": "30",
    },
    "ETag": {
        "description": "The record's version, a strong entity tag (a quoted string). Send it back as "
        "If-Match on PATCH so a concurrent change is refused (412) instead of overwritten.",
        "required": True,
        "schema": _STRING,
        "example": '"5d41402abc4b2a76b9719d911017c592"',
    },
    "Idempotent-Replayed": {
        "description": "`true` when this answer replays the first response to the same Idempotency-Key and "
        "body (nothing was created again); absent on a first answer.",
        "schema": _STRING,
        "example": "true",
    },
}
_RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")

PARAMETERS: dict[str, dict[str, Any]] = {
    "If-Match": {
        "description": "Optimistic concurrency: the ETag from your last GET (or PATCH) of the record, e.g. "
        '`"5d41402abc4b2a76b9719d911017c592"` with its quotes; several tags may be listed, comma-separated. '
        "`*` matches any version. When no listed tag is the record's current ETag the change is refused "
        "with 412 PRECONDITION_FAILED and nothing is written: read the record again and reapply. Weak tags "
        "(`W/...`) never match. Without the header the change is applied unconditionally. A change you may not make "
        "or that is refused for its content is answered as such (403, 400, 409, 422) whatever the header says.",
        "example": '"5d41402abc4b2a76b9719d911017c592"',
    },
    "Idempotency-Key": {
        "description": "Makes a retry safe: a key of your choice (a UUID is ideal), 1-255 characters with at least one "
        "visible ASCII character, kept "
        "for 24 hours per user. The same key with the same body within 24 h creates nothing new and replays "
        "the first response (same status, the record rendered again) with `Idempotent-Replayed: true`; the "
        "same key with a different body is a 422 VALIDATION_ERROR. A first attempt that failed keeps nothing, "
        "so it may be retried with the same key. Mint a new key for every new request and reuse it only for "
        "retries of that request.",
        # No example value: a documented key is one every generated client and tool would send with any body,
        # which is exactly the misuse that answers 422.
    },
}

DEFAULT_RESPONSE = {
    "description": "Any other answer, as a problem document: 405 METHOD_NOT_ALLOWED (the `Allow` header lists "
    "the methods) or 500 INTERNAL_ERROR (nothing internal is revealed; quote `correlation_id`).",
    "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
    "content": {PROBLEM_TYPE: {"schema": PROBLEM_REF}},
}

# Names for request bodies that ninja leaves inline (a multipart form merges its fields into one schema).
BODY_COMPONENTS = {"uploadClaimDocument": "DocumentUpload"}

_ID = "b3e1f6a2-7c4d-4e8f-9a1b-2c3d4e5f6a7b"
_CUSTOMER_ID = "0f8c2b7e-3a41-4d6b-8e95-1c2d3e4f5a6b"
_POLICY_ID = "6a1d9c3e-2b47-4f58-9c06-7d8e9f0a1b2c"
_CLAIM_ID = "9e4b7a1c-5d32-4c68-b7f9-0a1b2c3d4e5f"
_DOCUMENT_ID = "2c7e5b9a-1f43-4a8d-96b0-3e4f5a6b7c8d"
_STAFF_ID = "4d2a8f6c-9b13-4e57-a0c8-5f6a7b8c9d0e"
_NOW = "2025-03-14T09:26:53Z"

_CUSTOMER_SUMMARY = {
    "id": _CUSTOMER_ID,
    "email": "ada.lovelace@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
}
_POLICY = {
    "id": _POLICY_ID,
    "policy_number": "POL-3F9A1C2B",
    "customer_id": _CUSTOMER_ID,
    "policy_type": "auto",
    "premium_amount": "1200.00",
    "coverage_amount": "50000.00",
    "start_date": "2025-01-01T00:00:00Z",
    "end_date": "2026-01-01T00:00:00Z",
    "status": "active",
    "compliance_status": "compliant",
    "last_audit_date": None,
    "cancellation_reason": "",
    "cancelled_at": None,
    "renewal_of_id": None,
    "created_at": "2024-12-20T10:00:00Z",
    "updated_at": "2024-12-20T10:00:00Z",
    "customer": _CUSTOMER_SUMMARY,
}
_DOCUMENT = {
    "id": _DOCUMENT_ID,
    "claim_id": _CLAIM_ID,
    "filename": "repair-estimate.pdf",
    "mime_type": "application/pdf",
    "file_size": 48213,
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "document_type": "estimate",
    "uploaded_by_id": _STAFF_ID,
    "created_at": _NOW,
    "download_url": f"/api/claims/{_CLAIM_ID}/documents/{_DOCUMENT_ID}",
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "LoginIn": {"email": "adjuster@vanguard.example", "password": "correct horse battery staple"},
    "RefreshIn": {"refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2ln"},
    "Token": {
        "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIn0.c2ln",
        "refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2ln",
        "token_type": "bearer",
        "expires_in": 1800,
    },
    "MeResponse": {
        "id": _STAFF_ID,
        "email": "adjuster@vanguard.example",
        "full_name": "Grace Hopper",
        "is_superuser": False,
        "groups": ["Claims adjuster"],
        "permissions": ["claims.change_claim", "claims.view_claim", "policies.view_policy"],
        "authority_limit": "10000.00",
    },
    "ErrorResponse": {
        "type": "https://vanguard.invalid/problems/validation-error",
        "title": "Validation error",
        "status": 422,
        "detail": "The request does not match the schema.",
        "instance": "/api/customers",
        "code": "VALIDATION_ERROR",
        "errors": {"email": ["value is not a valid email address"]},
        "correlation_id": "3f0c1a2b9d8e4f6a8b7c6d5e4f3a2b1c",
    },
    "CustomerCreate": {
        "email": "ada.lovelace@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+442079460000",
        "date_of_birth": "1985-12-10",
        "address": "12 Example Street, London",
        "ssn": "AB123456C",
        "gdpr_consent": True,
    },
    "CustomerUpdate": {"phone": "+442079460001", "address": "7 Sample Road, Leeds"},
    "CustomerSearch": {"email": "ada.lovelace@example.com"},
    "CustomerResponse": {
        "id": _CUSTOMER_ID,
        "email": "ada.lovelace@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+442079460000",
        "date_of_birth": "1985-12-10",
        "address": "12 Example Street, London",
        "ssn_last4": "456C",
        "gdpr_consent": True,
        "pii_encrypted": True,
        "pii_masked": False,
        "gdpr_consent_date": "2024-12-20T10:00:00Z",
        "gdpr_consent_withdrawn_at": None,
        "data_retention_date": None,
        "erased_at": None,
        "created_at": "2024-12-20T10:00:00Z",
        "updated_at": "2024-12-20T10:00:00Z",
    },
    "CustomerSummary": _CUSTOMER_SUMMARY,
    "CustomerErased": {"id": _CUSTOMER_ID, "status": "erased", "erased_at": _NOW},
    "PolicyCreate": {
        "customer_id": _CUSTOMER_ID,
        "policy_type": "auto",
        "premium_amount": "1200.00",
        "coverage_amount": "50000.00",
        "start_date": "2025-01-01T00:00:00Z",
        "end_date": "2026-01-01T00:00:00Z",
    },
    "PolicyUpdate": {"premium_amount": "1320.00", "end_date": "2026-06-30T00:00:00Z"},
    "PolicyRenew": {"premium_amount": "1250.00"},
    "PolicyResponse": _POLICY,
    "ClaimCreate": {
        "policy_id": _POLICY_ID,
        "claim_type": "accident",
        "claim_amount": "1500.00",
        "description": "Rear-ended at a junction; bumper and boot lid damaged.",
        "incident_date": "2025-03-10T17:45:00Z",
    },
    "ClaimUpdate": {"status": "approved", "approved_amount": "1450.00", "decision_reason": "Covered; excess applied."},
    "ClaimResponse": {
        "id": _CLAIM_ID,
        "claim_number": "CLM-7D04E1A9",
        "policy_id": _POLICY_ID,
        "claim_type": "accident",
        "claim_amount": "1500.00",
        "description": "Rear-ended at a junction; bumper and boot lid damaged.",
        "incident_date": "2025-03-10T17:45:00Z",
        "reported_date": "2025-03-11T08:12:00Z",
        "status": "approved",
        "approved_amount": "1450.00",
        "decision_reason": "Covered; excess applied.",
        "processed_date": _NOW,
        "assigned_to": _STAFF_ID,
        "created_at": "2025-03-11T08:12:00Z",
        "updated_at": _NOW,
        "reserve_indemnity": "450.00",
        "reserve_expense": "0.00",
        "paid_indemnity": "1000.00",
        "paid_expense": "0.00",
        "recovered": "0.00",
        "gross_incurred": "1450.00",
        "net_incurred": "1450.00",
        "policy": _POLICY,
        "documents": [_DOCUMENT],
    },
    "DocumentResponse": _DOCUMENT,
    "DocumentUpload": {"file": "%PDF-1.7\n...", "document_type": "estimate"},  # the file part holds the raw bytes
    "AuditLogResponse": {
        "id": 1024,
        "resource_type": "claim",
        "resource_id": _CLAIM_ID,
        "resource_repr": "CLM-7D04E1A9",
        "action": "update",
        "changes": {"status": ["processing", "approved"]},
        "actor_id": _STAFF_ID,
        "actor_email": "adjuster@vanguard.example",
        "remote_addr": "203.0.113.7",
        "correlation_id": "3f0c1a2b9d8e4f6a8b7c6d5e4f3a2b1c",
        "timestamp": _NOW,
    },
}
# A claim's money (claims.financials.schemas).
_PAYMENT_ID = "7b3c9d1e-4f25-4a6b-8c7d-9e0f1a2b3c4d"
_FINANCE_ID = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
_PAYMENT = {
    "id": _PAYMENT_ID,
    "payment_number": "PAY-1A2B3C4D",
    "claim_id": _CLAIM_ID,
    "cost_type": "indemnity",
    "amount": "1000.00",
    "payee_name": "Ada Lovelace",
    "payee_account": "•••• 4321",
    "payee_is_policyholder": True,
    "method": "bank_transfer",
    "reference": "Repair invoice 2025-118",
    "status": "issued",
    "requested_by": _STAFF_ID,
    "requested_at": "2025-03-14T09:30:00Z",
    "approved_by": _STAFF_ID,
    "approved_at": "2025-03-14T09:30:00Z",
    "issued_by": _FINANCE_ID,
    "issued_at": "2025-03-15T11:02:00Z",
    "cancelled_by": None,
    "cancelled_at": None,
    "cancel_reason": "",
    "voided_by": None,
    "voided_at": None,
    "void_reason": "",
    "created_at": "2025-03-14T09:30:00Z",
    "updated_at": "2025-03-15T11:02:00Z",
}
_RESERVE_CHANGE = {
    "id": "8c4d0e2f-5a36-4b7c-9d8e-0f1a2b3c4d5e",
    "claim_id": _CLAIM_ID,
    "cost_type": "indemnity",
    "previous_amount": "1500.00",
    "new_amount": "1450.00",
    "reason": "Excess applied after the assessor's report.",
    "actor_id": _STAFF_ID,
    "created_at": _NOW,
}
_RECOVERY = {
    "id": "9d5e1f3a-6b47-4c8d-8e9f-1a2b3c4d5e6f",
    "claim_id": _CLAIM_ID,
    "kind": "subrogation",
    "amount": "600.00",
    "source": "Northwind Mutual (the other driver's insurer)",
    "reference": "NM-88213",
    "received_at": "2025-04-02T00:00:00Z",
    "actor_id": _FINANCE_ID,
    "created_at": "2025-04-02T08:15:00Z",
}
EXAMPLES.update(
    {
        "ClaimFinancials": {
            "reserve_indemnity": "450.00",
            "reserve_expense": "0.00",
            "paid_indemnity": "1000.00",
            "paid_expense": "0.00",
            "recovered": "600.00",
            "gross_incurred": "1450.00",
            "net_incurred": "850.00",
            "currency": "EUR",
        },
        "ReserveChangeCreate": {
            "cost_type": "indemnity",
            "amount": "1450.00",
            "reason": "Excess applied after the assessor's report.",
        },
        "ReserveChangeResponse": _RESERVE_CHANGE,
        "PaymentCreate": {
            "cost_type": "indemnity",
            "amount": "1000.00",
            "payee_name": "Ada Lovelace",
            "payee_account": "GB33BUKB20201555554321",
            "payee_is_policyholder": True,
            "method": "bank_transfer",
            "reference": "Repair invoice 2025-118",
        },
        "PaymentResponse": _PAYMENT,
        "PaymentReason": {"reason": "Paid twice: the garage was also paid directly."},
        "RecoveryCreate": {
            "kind": "subrogation",
            "amount": "600.00",
            "source": "Northwind Mutual (the other driver's insurer)",
            "reference": "NM-88213",
            "received_at": "2025-04-02T00:00:00Z",
        },
        "RecoveryResponse": _RECOVERY,
    }
)

# The subject-access export (customers.schemas.CustomerExport) and its parts, from one example.
_EVENT = {"kind": "status_changed", "from": "pending", "to": "active", "reason": None, "data": {}, "at": _NOW}
_EXPORT = {
    "export": {"generated_at": _NOW, "format": "vanguard-subject-access/1", "requested_through": "api"},
    "customer": {
        "id": _CUSTOMER_ID,
        "email": "ada.lovelace@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+442079460000",
        "date_of_birth": "1985-12-10",
        "address": "12 Example Street, London",
        "ssn": "123-45-6789",
        "pii_encrypted": True,
        "created_at": _NOW,
        "updated_at": _NOW,
        "erased_at": None,
    },
    "consent": {
        "gdpr_consent": True,
        "gdpr_consent_date": _NOW,
        "gdpr_consent_withdrawn_at": None,
        "data_retention_date": "2032-03-14T09:26:53Z",
        "history": [{"at": _NOW, "changes": {"gdpr_consent": ["False", "True"]}}],
    },
    "policies": [
        {
            "id": _POLICY_ID,
            "policy_number": "POL-3F9A1C2B",
            "policy_type": "auto",
            "status": "active",
            "premium_amount": "1200.00",
            "coverage_amount": "50000.00",
            "start_date": "2025-01-01T00:00:00Z",
            "end_date": "2026-01-01T00:00:00Z",
            "cancellation_reason": None,
            "cancelled_at": None,
            "renewal_of": None,
            "created_at": _NOW,
            "events": [_EVENT],
        }
    ],
    "claims": [
        {
            "id": _CLAIM_ID,
            "claim_number": "CLM-7D04E1A9",
            "policy_number": "POL-3F9A1C2B",
            "claim_type": "accident",
            "status": "approved",
            "claim_amount": "1500.00",
            "approved_amount": "1450.00",
            "description": "Rear-ended at a junction.",
            "decision_reason": "Covered; excess applied.",
            "incident_date": "2025-03-10T17:45:00Z",
            "reported_date": _NOW,
            "processed_date": _NOW,
            "events": [{**_EVENT, "from": "processing", "to": "approved"}],
            "documents": [
                {
                    "id": _DOCUMENT_ID,
                    "filename": "repair-estimate.pdf",
                    "document_type": "estimate",
                    "mime_type": "application/pdf",
                    "file_size": 48213,
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "uploaded_at": _NOW,
                }
            ],
            # to the policyholder only, the account in full: it is the person's own data
            "payments": [
                {
                    "payment_number": "PAY-1A2B3C4D",
                    "cost_type": "indemnity",
                    "amount": "1000.00",
                    "payee_name": "Ada Lovelace",
                    "payee_account": "GB33BUKB20201555554321",
                    "method": "bank_transfer",
                    "reference": "Repair invoice 2025-118",
                    "status": "issued",
                    "requested_at": "2025-03-14T09:30:00Z",
                    "approved_at": "2025-03-14T09:30:00Z",
                    "issued_at": "2025-03-15T11:02:00Z",
                    "cancelled_at": None,
                    "voided_at": None,
                }
            ],
        }
    ],
    "record_history": [
        {
            "seq": 1042,
            "at": _NOW,
            "action": "create",
            "changes": {"first_name": ["None", "Ada"]},
            "by": "clerk@vanguard.example",
        }
    ],
    "former_values": [{"field": "phone", "value": "+442079460999", "replaced_at": _NOW}],
    "pii_accesses": [
        {
            "at": _NOW,
            "by": "clerk@vanguard.example",
            "interface": "api",
            "fields": ["email", "phone", "date_of_birth", "address", "ssn"],
        }
    ],
}
EXAMPLES.update(
    {
        "CustomerExport": _EXPORT,
        "ExportMeta": _EXPORT["export"],
        "ExportedCustomer": _EXPORT["customer"],
        "ExportedConsent": _EXPORT["consent"],
        "ConsentChange": _EXPORT["consent"]["history"][0],
        "ExportedPolicy": _EXPORT["policies"][0],
        "ExportedEvent": _EVENT,
        "ExportedClaim": _EXPORT["claims"][0],
        "ExportedDocument": _EXPORT["claims"][0]["documents"][0],
        "ExportedPayment": _EXPORT["claims"][0]["payments"][0],
        "ExportedHistoryEntry": _EXPORT["record_history"][0],
        "FormerValue": _EXPORT["former_values"][0],
        "PIIAccess": _EXPORT["pii_accesses"][0],
    }
)

_PAGE_ITEMS = {
    "CustomerPage": "CustomerResponse",
    "PolicyPage": "PolicyResponse",
    "ClaimPage": "ClaimResponse",
    "AuditLogPage": "AuditLogResponse",
    "ReserveChangePage": "ReserveChangeResponse",
    "PaymentPage": "PaymentResponse",
    "RecoveryPage": "RecoveryResponse",
}
for _page, _item in _PAGE_ITEMS.items():
    EXAMPLES[_page] = {
        "items": [EXAMPLES[_item]],
        "total": 1,
        "total_is_estimate": False,
        "page": 1,
        "page_size": 20,
        "total_pages": 1,
        "has_next": False,
        "has_previous": False,
        "next_cursor": None,
    }


def _header_refs(*names: str) -> dict[str, dict[str, str]]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref.startswith("#/components/schemas/") else None


def _etag_paths(paths: dict[str, Any]) -> set[str]:
    """Paths of records that carry an ETag: those whose PATCH honours If-Match (their GET returns the tag)."""
    return {
        path
        for path, operations in paths.items()
        if any(p.get("name") == "If-Match" for p in operations.get("patch", {}).get("parameters", []))
    }


# What the upload's file part may hold (sniffed from the bytes: the part's own Content-Type is not trusted).
UPLOAD_TYPES = (
    "image/jpeg, image/png, image/gif, application/pdf, application/msword, "
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
)


def _name_inline_body(schema: dict[str, Any], operation: dict[str, Any]) -> None:
    name = BODY_COMPONENTS.get(operation.get("operationId", ""))
    for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
        if name and "$ref" not in media.get("schema", {"$ref": ""}):
            body = media["schema"]
            body["title"] = name
            schema["components"]["schemas"][name] = body
            media["schema"] = {"$ref": f"#/components/schemas/{name}"}
            body["additionalProperties"] = False  # the endpoint refuses unknown parts, as JSON bodies do
            if media_type == "multipart/form-data" and "file" in body.get("properties", {}):
                media["encoding"] = {"file": {"contentType": UPLOAD_TYPES}}


def _example_of(media: dict[str, Any]) -> Any:
    name = _ref_name(media.get("schema", {}))
    return copy.deepcopy(EXAMPLES[name]) if name in EXAMPLES else None


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Finish ninja's document in place (and return it)."""
    components = schema.setdefault("components", {})
    components["headers"] = copy.deepcopy(HEADERS)
    paths = schema.get("paths", {})
    etag_paths = _etag_paths(paths)
    for path, operations in paths.items():
        for method, operation in operations.items():
            _name_inline_body(schema, operation)
            names = {p.get("name") for p in operation.get("parameters", [])}
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "header" and parameter.get("name") in PARAMETERS:
                    parameter.update(copy.deepcopy(PARAMETERS[parameter["name"]]))
            for media in operation.get("requestBody", {}).get("content", {}).values():
                example = _example_of(media)
                if example is not None:
                    media["example"] = example
            responses = operation.setdefault("responses", {})
            responses.setdefault("default", copy.deepcopy(DEFAULT_RESPONSE))
            for status, response in responses.items():
                if status == "default":
                    continue
                headers = response.setdefault("headers", {})
                headers.update(_header_refs("X-Request-ID", *_RATE_HEADERS))
                code = int(status)
                if code in (429, 503):
                    headers.update(_header_refs("Retry-After"))
                if 200 <= code < 300:
                    if path in etag_paths and method in ("get", "patch"):
                        headers.update(_header_refs("ETag"))
                    if "Idempotency-Key" in names and code == 201:
                        headers.update(_header_refs("Idempotent-Replayed"))
                    for media in response.get("content", {}).values():
                        example = _example_of(media)
                        if example is not None:
                            media["example"] = example
                if code == 412:
                    response["description"] = "Precondition Failed: If-Match names no current ETag of the record"
                if code == 422 and "Idempotency-Key" in names:
                    response["description"] = (
                        "Unprocessable Content: the body does not match the schema, or the "
                        "Idempotency-Key was used before with a different body"
                    )
    for name, example in EXAMPLES.items():
        if name in components.get("schemas", {}):
            components["schemas"][name]["examples"] = [copy.deepcopy(example)]
    _defaults_in_words(schema)
    return schema


def _defaults_in_words(schema: dict[str, Any]) -> None:
    """A request body's optional field keeps its default in its description, not as `default`: generators such as
    openapi-typescript 7 make every property with a default required in the generated type, so a client would have
    to send what it may leave out. The server applies the default either way."""
    bodies = {
        _ref_name(media.get("schema", {}))
        for operations in schema.get("paths", {}).values()
        for operation in operations.values()
        for media in operation.get("requestBody", {}).get("content", {}).values()
    }
    for name in bodies - {None}:
        for prop in schema["components"]["schemas"].get(name, {}).get("properties", {}).values():
            if "default" in prop:
                default = prop.pop("default")
                said = f"Defaults to {json.dumps(default)} when left out."
                prop["description"] = f"{prop['description'].rstrip('.')}. {said}" if prop.get("description") else said
