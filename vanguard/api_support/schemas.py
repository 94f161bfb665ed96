"""Schemas shared by every router: the problem document and the page envelope."""

from __future__ import annotations

from typing import Generic, TypeVar

from ninja import Schema
from pydantic import Field

T = TypeVar("T")


class ErrorResponse(Schema):
    """RFC 7807 problem document (`application/problem+json`)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: str = Field(description="VALIDATION_ERROR, BUSINESS_RULE, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT, "
                      "PRECONDITION_FAILED, RATE_LIMITED, SERVICE_UNAVAILABLE or INTERNAL_ERROR")
    errors: dict[str, list[str]] | None = Field(None, description="field → messages (422 only)")
    correlation_id: str | None = Field(None, description="the request id (X-Request-ID)")


class Page(Schema, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int
    total_pages: int
    has_next: bool
    has_previous: bool


# Status codes every protected endpoint may answer besides its own.
COMMON_ERRORS = {401: ErrorResponse, 403: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse}
