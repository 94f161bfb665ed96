"""Responses of the API: orjson rendering and RFC 7807 problem documents (SPEC §3)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

import orjson
from django.http import HttpResponse
from ninja.renderers import BaseRenderer

from vanguard.core.request_context import get_request_id

PROBLEM_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation error",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}
CODES = {
    400: "BUSINESS_RULE",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    412: "PRECONDITION_FAILED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def _default(value: Any) -> Any:
    # Money is written as a string, never a float (SPEC §2).
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode()
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, enum.Enum):  # a model's choices (TextChoices) on a row not read back from the database
        return value.value
    raise TypeError(f"Cannot serialise {type(value).__name__}")


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, default=_default, option=orjson.OPT_PASSTHROUGH_SUBCLASS)


class OrjsonRenderer(BaseRenderer):
    media_type = "application/json"

    def render(self, request, data, *, response_status: int) -> bytes:
        return dumps(data)


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    """A JSON response rendered straight from dicts (skips re-validating what selectors already shaped)."""
    return HttpResponse(dumps(data), status=status, content_type="application/json", headers=headers)


def problem(
    request,
    status: int,
    detail: str,
    *,
    code: str | None = None,
    title: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """An RFC 7807 problem document with the project's `code` and the request's `correlation_id`."""
    code = code or CODES.get(status, "ERROR")
    body: dict[str, Any] = {
        "type": f"https://vanguard.invalid/problems/{code.lower().replace('_', '-')}",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.path if request is not None else None,
        "code": code,
        "correlation_id": getattr(request, "request_id", None) or get_request_id(),
    }
    if errors:
        body["errors"] = errors
    response = HttpResponse(dumps(body), status=status, content_type=PROBLEM_TYPE, headers=headers)
    return response
