"""`/api/audit-logs` (SPEC §3, §7.1, §7.3): the audit trail and the PII access log, read-only.

Compliance officers (`compliance.view_auditentry`) read everything. Anyone else may read one record's own
history — `resource_type` and `resource_id` given — when they may view that record.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from ninja import Query, Router

from compliance.models import AuditEntry, PIIAccessLog
from compliance.schemas import AuditAction, AuditLogFilter, AuditLogPage, ResourceType
from vanguard.accounts.permissions import can
from vanguard.api_support.http import json_response
from vanguard.api_support.schemas import ErrorResponse
from vanguard.core.errors import NotPermitted
from vanguard.core.pagination import PageQuery, page_of

router = Router(tags=["audit"])

AUDIT_PERMISSION = "compliance.view_auditentry"
MODELS: dict[str, tuple[str, str, str]] = {  # resource type → (app label, model, view permission)
    ResourceType.CUSTOMER: ("customers", "customer", "customers.view_customer"),
    ResourceType.POLICY: ("policies", "policy", "policies.view_policy"),
    ResourceType.POLICY_EVENT: ("policies", "policyevent", "policies.view_policyevent"),
    ResourceType.CLAIM: ("claims", "claim", "claims.view_claim"),
    ResourceType.CLAIM_DOCUMENT: ("claims", "claimdocument", "claims.view_claimdocument"),
    ResourceType.CLAIM_EVENT: ("claims", "claimevent", "claims.view_claimevent"),
    ResourceType.USER: ("accounts", "user", "accounts.view_user"),
}
ACTIONS = {AuditAction.CREATE: 0, AuditAction.UPDATE: 1, AuditAction.DELETE: 2, AuditAction.ACCESS: 3}
ACTION_NAMES = {value: name.value for name, value in ACTIONS.items()}
ENTRY_FIELDS = (
    "id",
    "content_type__model",
    "object_pk",
    "object_repr",
    "action",
    "changes",
    "actor_id",
    "actor_email",
    "remote_addr",
    "cid",
    "timestamp",
)
PII_FIELDS = (
    "id",
    "customer_id",
    "fields",
    "interface",
    "actor_id",
    "actor__email",
    "remote_addr",
    "request_id",
    "created_at",
)


def _authorise(actor, filters: AuditLogFilter) -> None:
    if can(actor, AUDIT_PERMISSION):
        return
    kind = filters.resource_type
    if kind in MODELS and filters.resource_id and can(actor, MODELS[kind][2]):
        return
    raise NotPermitted(
        "You may read the audit trail only with the compliance permission, or one record's own history "
        "(resource_type and resource_id) when you may view that record."
    )


def _entry_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "resource_type": r["content_type__model"],
        "resource_id": r["object_pk"],
        "resource_repr": r["object_repr"],
        "action": ACTION_NAMES.get(r["action"], "update"),
        "changes": r["changes"],
        "actor_id": r["actor_id"],
        "actor_email": r["actor_email"],
        "remote_addr": r["remote_addr"],
        "correlation_id": r["cid"],
        "timestamp": r["timestamp"],
    }


def _pii_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "resource_type": ResourceType.PII_ACCESS.value,
        "resource_id": str(r["customer_id"]),
        "resource_repr": f"customer {r['customer_id']}",
        "action": "access",
        "changes": {"fields": r["fields"], "interface": r["interface"]},
        "actor_id": r["actor_id"],
        "actor_email": r["actor__email"],
        "remote_addr": r["remote_addr"],
        "correlation_id": r["request_id"] or None,
        "timestamp": r["created_at"],
    }


def audit_log_list(*, filters: AuditLogFilter, params: PageQuery) -> dict[str, Any]:
    """One page of the audit trail, or of the PII access log for resource_type=pii_access (newest first)."""
    if filters.resource_type == ResourceType.PII_ACCESS:
        qs = PIIAccessLog.objects.order_by("-created_at", "-id")
        if filters.resource_id:
            qs = qs.filter(customer_id__in=_uuid_or_nothing(filters.resource_id))
        if filters.actor_id:
            qs = qs.filter(actor_id=filters.actor_id)
        if filters.action and filters.action != AuditAction.ACCESS:
            qs = qs.none()
        if filters.since:
            qs = qs.filter(created_at__gte=filters.since)
        if filters.until:
            qs = qs.filter(created_at__lt=filters.until)
        return page_of(qs, params, fields=PII_FIELDS, row=_pii_row)
    qs = AuditEntry.objects.order_by("-timestamp", "-id")
    if filters.resource_type:
        app_label, model, _ = MODELS[filters.resource_type]
        qs = qs.filter(content_type__app_label=app_label, content_type__model=model)
    if filters.resource_id:
        qs = qs.filter(object_pk=filters.resource_id)
    if filters.actor_id:
        qs = qs.filter(actor_id=filters.actor_id)
    if filters.action:
        qs = qs.filter(action=ACTIONS[filters.action])
    if filters.since:
        qs = qs.filter(timestamp__gte=filters.since)
    if filters.until:
        qs = qs.filter(timestamp__lt=filters.until)
    return page_of(qs, params, fields=ENTRY_FIELDS, row=_entry_row)


def _uuid_or_nothing(value: str) -> list:
    from uuid import UUID

    try:
        return [UUID(value)]
    except ValueError:
        return []


E = ErrorResponse


@router.get(
    "",
    operation_id="listAuditLogs",
    response={200: AuditLogPage, 401: E, 403: E, 422: E, 429: E},
    summary="The audit trail (or resource_type=pii_access: the PII access log), newest first",
)
async def audit_log_list_endpoint(request, filters: Query[AuditLogFilter], paging: Query[PageQuery]):
    """The audit trail, newest first: every create, update and delete of customers, policies, claims,
    their events and documents, and staff users, with the changes (encrypted fields redacted), the actor and the
    correlation id. `resource_type=pii_access` reads the log of views of personal data in clear instead. Needs
    the compliance permission, or, for one record's own history (`resource_type` and `resource_id`), permission
    to view that record."""
    _authorise(request.auth, filters)
    return json_response(await sync_to_async(audit_log_list)(filters=filters, params=paging))
