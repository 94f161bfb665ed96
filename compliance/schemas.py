"""Audit-log schemas of the API (SPEC §3, §7)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from ninja import Schema
from pydantic import Field, StringConstraints

from vanguard.api_support.schemas import Moment, Page


class AuditAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ACCESS = "access"


class ResourceType(StrEnum):
    CUSTOMER = "customer"
    POLICY = "policy"
    POLICY_EVENT = "policyevent"
    CLAIM = "claim"
    CLAIM_DOCUMENT = "claimdocument"
    CLAIM_EVENT = "claimevent"
    USER = "user"
    PII_ACCESS = "pii_access"


class AuditLogResponse(Schema):
    id: int
    resource_type: str = Field(description="customer, policy, claim, ... or pii_access")
    resource_id: str
    resource_repr: str
    action: AuditAction
    changes: dict[str, Any] | None = Field(description="field → [old, new]; encrypted fields '[redacted]'")
    actor_id: UUID | None
    actor_email: str | None
    remote_addr: str | None
    correlation_id: str | None
    timestamp: dt.datetime


class AuditLogFilter(Schema):
    resource_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    resource_type: ResourceType | None = None
    actor_id: UUID | None = None
    action: AuditAction | None = None
    since: Moment | None = None
    until: Moment | None = None


class AuditLogPage(Page[AuditLogResponse]):
    """A page of audit entries."""
