"""Schemas shared by every router: the problem document and the page envelope."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Generic, TypeVar

from ninja import Schema
from pydantic import AfterValidator, AwareDatetime, Field

from vanguard.dates import OUT_OF_RANGE, year_in_range

T = TypeVar("T")


def _within_years(value: dt.datetime) -> dt.datetime:
    if not year_in_range(value):
        raise ValueError(OUT_OF_RANGE)
    return value


# An ISO 8601 date-time with a time zone, in a sane range of years: every date-time the API accepts.
Moment = Annotated[AwareDatetime, AfterValidator(_within_years)]


class ErrorResponse(Schema):
    """RFC 7807 problem document (`application/problem+json`)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: str = Field(description="VALIDATION_ERROR (422), BUSINESS_RULE (400), BAD_REQUEST (400, a request the "
                      "server refuses to parse, e.g. too many form fields), UNAUTHORIZED (401), FORBIDDEN (403), "
                      "NOT_FOUND (404), METHOD_NOT_ALLOWED (405), CONFLICT (409), PRECONDITION_FAILED (412), "
                      "PAYLOAD_TOO_LARGE (413), UNSUPPORTED_MEDIA_TYPE (415), RATE_LIMITED (429), "
                      "INTERNAL_ERROR (500) or SERVICE_UNAVAILABLE (503)")
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
