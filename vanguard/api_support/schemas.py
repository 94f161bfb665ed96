"""Schemas shared by every router: the problem document, the page envelope, and the strict input types.

Input types say exactly what the server accepts, in the OpenAPI document too (issue 8): a date-time is an
RFC 3339 string with a time zone (never a number), a flag is a JSON boolean (never "yes" or 0), money is a
number or a decimal string with at most two places, within its column's digits.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, Field, StrictBool, WithJsonSchema

from vanguard.core.dates import MAX_YEAR, MIN_YEAR
from vanguard.core.pagination import ESTIMATE_ABOVE

T = TypeVar("T")

_YEAR = r"(19\d\d|2\d\d\d)"  # MIN_YEAR..MAX_YEAR, as written
assert (MIN_YEAR, MAX_YEAR) == (1900, 2999), "keep _YEAR in step with vanguard.core.dates"
_DAY = r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
DATE_TIME_PATTERN = (
    rf"^{_YEAR}-{_DAY}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{{1,6}})?"
    r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
DATE_PATTERN = rf"^{_YEAR}-{_DAY}$"
_DATE_TIME_RE = re.compile(DATE_TIME_PATTERN)
_DATE_RE = re.compile(DATE_PATTERN)
YEARS = f"years {MIN_YEAR} to {MAX_YEAR}"


def _rfc3339(value: Any) -> Any:
    # pydantic's lax mode reads numbers (and numeric strings such as "0.5") as Unix timestamps: refuse them.
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _DATE_TIME_RE.match(value):
        raise ValueError(f"must be an RFC 3339 date-time with a time zone in the {YEARS}, e.g. 2024-06-15T10:30:00Z")
    return value


def _to_utc(value: dt.datetime) -> dt.datetime:
    # PostgreSQL refuses UTC offsets of 16 hours or more (RFC 3339 allows up to 23:59): store and compare in UTC.
    return value.astimezone(dt.UTC)


def _iso_date(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise ValueError(f"must be a date (YYYY-MM-DD) in the {YEARS}")
    return value


# An RFC 3339 date-time with a time zone, years 1900-2999 as written; read as UTC. Every date-time the API accepts.
Moment = Annotated[
    dt.datetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_to_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN}),
]
# A calendar date (YYYY-MM-DD), years 1900-2999.
Day = Annotated[
    dt.date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN}),
]


def _flag(value: Any) -> Any:
    # A query string carries text: only "true" and "false" (pydantic would also read yes/no, on/off, 1/0, t/f).
    if value is True or value is False:
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError("must be true or false")


# A boolean in a JSON body: true or false only. Legal and financial flags (consent) are never coerced.
Flag = StrictBool
# A boolean query parameter: the strings true or false.
QueryFlag = Annotated[bool, BeforeValidator(_flag), WithJsonSchema({"type": "boolean"})]


# --- text ---------------------------------------------------------------------------------------------------
# The characters str.strip() removes (str.isspace()), spelled out: JSON Schema's `\s` is a different set.
WHITESPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
NO_NUL_PATTERN = "^[^\\x00]*$"  # PostgreSQL text cannot hold NUL: the parser refuses it anywhere (422)


# Text with at least one character that strip() keeps, and no NUL: what "must not be blank" accepts.
NONBLANK_PATTERN = f"^[{WHITESPACE}]*[^{WHITESPACE}\\x00][^\\x00]*$"


def text_required_when(field: str, value: str, needs: str) -> dict[str, Any]:
    """JSON Schema (for a model's json_schema_extra) saying: when `field` is `value`, `needs` is required and
    not blank. The server refuses that case with a 422, so the document states it (if/then)."""
    return {
        "if": {"properties": {field: {"const": value}}, "required": [field]},
        "then": {"required": [needs], "properties": {needs: {"type": "string", "pattern": NONBLANK_PATTERN}}},
    }


def _stripped_nonblank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


def name_text(max_length: int):
    """Free text that must say something: at most `max_length` characters as sent, stored stripped."""
    return Annotated[
        str,
        Field(max_length=max_length),
        AfterValidator(_stripped_nonblank),
        WithJsonSchema({"type": "string", "maxLength": max_length, "pattern": NONBLANK_PATTERN}),
    ]


def padded_pattern(value_pattern: str) -> str:
    """`value_pattern` (anchored-free) with the surrounding whitespace the server strips."""
    return f"^[{WHITESPACE}]*({value_pattern})[{WHITESPACE}]*$"


# --- money (SPEC §2: Decimal with 2 places; a string in JSON responses, a number or a string in requests) -------
MONEY_REF = "#/components/schemas/Money"
MONEY_COMPONENT = {
    "type": "string",
    "pattern": r"^-?\d+\.\d{2}$",
    "examples": ["150.00"],
    "description": "An amount of money in the installation's currency: a decimal string with exactly two places.",
}


def _money_pattern(max_digits: int) -> str:
    whole = max_digits - 2
    # > 0, at most `whole` digits before the point (no leading zero) and at most two after it.
    return rf"^([1-9]\d{{0,{whole - 1}}}(\.\d{{1,2}})?|0\.(0[1-9]|[1-9]\d?))$"


def _money_input(max_digits: int):
    pattern = _money_pattern(max_digits)
    compiled = re.compile(pattern)
    maximum = float(Decimal(10) ** (max_digits - 2) - Decimal("0.01"))

    def parse(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a number or a decimal string")
        if isinstance(value, int | float):
            return Decimal(str(value))
        if isinstance(value, str) and compiled.match(value):
            return Decimal(value)
        raise ValueError(
            f"must be a number or a decimal string above 0 with at most {max_digits - 2} digits "
            "before the point and 2 after it, e.g. 150.00"
        )

    schema = {
        "anyOf": [
            {"type": "number", "exclusiveMinimum": 0, "maximum": maximum, "multipleOf": 0.01},
            {"type": "string", "pattern": pattern},
        ]
    }
    return Annotated[
        Decimal,
        BeforeValidator(parse),
        Field(gt=0, max_digits=max_digits, decimal_places=2),
        WithJsonSchema(schema),
    ]


# Request amounts, by the column they are stored in: Decimal(15,2) and the premium's Decimal(10,2).
MoneyIn = _money_input(15)
PremiumIn = _money_input(10)
# Response amounts: a decimal string (the `Money` component).
# (Pydantic cannot refer to a component it does not define: the marker is replaced by the $ref in
# vanguard.api_support.precision.)
MONEY_MARKER = "x-vanguard-money"
Money = Annotated[Decimal, WithJsonSchema({**MONEY_COMPONENT, MONEY_MARKER: True})]


ErrorCode = Literal[
    "VALIDATION_ERROR",
    "BUSINESS_RULE",
    "BAD_REQUEST",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "CONFLICT",
    "PRECONDITION_FAILED",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "RATE_LIMITED",
    "INTERNAL_ERROR",
    "SERVICE_UNAVAILABLE",
]


class ErrorResponse(Schema):
    """RFC 7807 problem document (`application/problem+json`)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: ErrorCode = Field(
        description="VALIDATION_ERROR (422), BUSINESS_RULE (400), BAD_REQUEST (400, a request the "
        "server refuses to parse, e.g. too many form fields), UNAUTHORIZED (401), FORBIDDEN (403), "
        "NOT_FOUND (404), METHOD_NOT_ALLOWED (405), CONFLICT (409), PRECONDITION_FAILED (412), "
        "PAYLOAD_TOO_LARGE (413), UNSUPPORTED_MEDIA_TYPE (415), RATE_LIMITED (429), "
        "INTERNAL_ERROR (500) or SERVICE_UNAVAILABLE (503)"
    )
    errors: dict[str, list[str]] | None = Field(None, description="field → messages (422 only)")
    correlation_id: str | None = Field(None, description="the request id (X-Request-ID)")


class Page(Schema, Generic[T]):
    """One page of a list (vanguard.core.pagination): by `page` number, or after a `cursor`."""

    items: list[T]
    total: int = Field(description=f"rows in the whole filtered list; above {ESTIMATE_ABOVE:,} the database's estimate")
    total_is_estimate: bool = Field(description=f"true when total is an estimate (more than {ESTIMATE_ABOVE:,} rows)")
    page: int
    page_size: int
    total_pages: int
    has_next: bool
    has_previous: bool
    next_cursor: str | None = Field(
        description="send as cursor for the next page (keyset paging, any depth); null on the last page"
    )


# Status codes every protected endpoint may answer besides its own.
COMMON_ERRORS = {401: ErrorResponse, 403: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse}
