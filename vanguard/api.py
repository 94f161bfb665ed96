"""The one NinjaAPI of the project (SPEC §3): routers, bearer auth, and every exception handler.

Every error leaves as an RFC 7807 problem document (`application/problem+json`) with the project's
`code` and the request's `correlation_id`. Status convention: schema → 422, business rule → 400,
state conflict → 409, stale If-Match → 412, missing/bad token → 401, missing permission → 403.
"""

from __future__ import annotations

import logging

import orjson
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    ValidationError,
)
from django.db import IntegrityError
from django.http import Http404
from django.http.multipartparser import MultiPartParserError
from django.views.defaults import page_not_found
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser

from vanguard.accounts.auth import InvalidToken, bearer
from vanguard.api_support import openapi
from vanguard.api_support.http import PROBLEM_TYPE, OrjsonRenderer, problem
from vanguard.api_support.ratelimit import RateLimited
from vanguard.core.errors import DomainError

logger = logging.getLogger("vanguard.api")


class MalformedBody(Exception):
    """The body is not a JSON document (or not the media type the endpoint reads)."""


class UnsupportedMediaType(Exception):
    pass


_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class StrictJSONParser(Parser):
    """orjson: rejects NaN/Infinity literals and invalid UTF-8, which `json.loads` would let through."""

    def parse_body(self, request):
        if request.content_type in _FORM_TYPES:
            raise UnsupportedMediaType(request.content_type)
        try:
            data = orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            raise MalformedBody(str(exc)) from exc
        if b"\\u0000" in request.body and _has_nul(data):
            raise MalformedBody("NUL character")
        return data

    def parse_querydict(self, data, list_fields, request):
        if any(isinstance(v, str) and "\x00" in v for _, values in data.lists() for v in values):
            raise NulInQuery()
        return super().parse_querydict(data, list_fields, request)


class NulInQuery(Exception):
    """PostgreSQL text cannot hold NUL: refuse it as a schema error, never let it reach the database."""


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _docs_guard(view):
    return view if settings.API_DOCS_PUBLIC else staff_member_required(view)


# Answers any operation may give besides its own, from the layers in front of the endpoints.
_EDGE_ERRORS = {"503": "Service Unavailable: the database is unreachable; retry after Retry-After seconds"}
_BODY_ERRORS = {
    "413": "Payload Too Large",
    "415": "Unsupported Media Type: the body is not the type the endpoint reads",
}


class VanguardAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        """ninja documents every response as application/json; the error responses are problem documents.
        The answers of the layers in front of the endpoints (503, and 413/415 for a request body) are added."""
        from vanguard.api_support.precision import refine  # Money, no nullable query parameters, no NUL, no orphans

        schema = refine(super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params))
        problem_content = {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for status, response in responses.items():
                    content = response.get("content", {})
                    if int(status) >= 400 and "application/json" in content:
                        response["content"] = {PROBLEM_TYPE: content["application/json"]}
                extra = {**_EDGE_ERRORS, **(_BODY_ERRORS if method in ("post", "patch", "put") else {})}
                for status, description in extra.items():
                    responses.setdefault(status, {"description": description, "content": problem_content})
        return openapi.document(schema)


api = VanguardAPI(
    title="Vanguard Insurance API",
    version="1.0.0",
    description=(
        "The REST API of the Vanguard back office for the customer and broker portals. Authenticate with "
        "`POST /api/auth/login` and send `Authorization: Bearer <access_token>`. Errors are RFC 7807 problem "
        "documents. Money is a decimal string in responses and a number or string in requests."
    ),
    auth=bearer,
    renderer=OrjsonRenderer(),
    parser=StrictJSONParser(),
    urls_namespace="api",
    docs_decorator=_docs_guard,
    servers=openapi.SERVERS,
    openapi_extra={"info": {"license": openapi.LICENSE}, "tags": openapi.TAGS},
)


# --- exception handlers (registered once, here) ----------------------------------------------------------
def _field_errors_from_django(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for m in ValidationError(errors).messages] for field, errors in exc.error_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


@api.exception_handler(DomainError)
def _domain_error(request, exc: DomainError):
    errors = {exc.field: [exc.message]} if exc.field and exc.status_code == 422 else None
    return problem(request, exc.status_code, exc.message, code=exc.code, errors=errors)


@api.exception_handler(ValidationError)
def _django_validation_error(request, exc: ValidationError):
    errors = _field_errors_from_django(exc)
    return problem(request, 422, "The request has invalid fields.", errors=errors)


def _loc_name(loc) -> str:
    parts = [str(p) for p in loc]
    # ninja prefixes the source ("body", "query", "path", "form", "file") and the parameter's name.
    if parts and parts[0] in {"body", "query", "path", "form", "file", "header", "cookie"}:
        parts = parts[1:]
        if len(parts) > 1 and parts[0] in {"payload", "filters", "params", "paging"}:
            parts = parts[1:]
    return ".".join(parts) or "body"


@api.exception_handler(NinjaValidationError)
def _ninja_validation_error(request, exc: NinjaValidationError):
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        # A ValueError raised in a validator reads "Value error, <message>": the caller gets the message alone.
        message = str(error.get("msg", "Invalid value.")).removeprefix("Value error, ")
        errors.setdefault(_loc_name(error.get("loc", ())), []).append(message)
    return problem(request, 422, "The request does not match the schema.", errors=errors)


def _unauthorized(request, detail: str):
    return problem(request, 401, detail, headers={"WWW-Authenticate": 'Bearer realm="api"'})


@api.exception_handler(AuthenticationError)
def _authentication_error(request, exc):
    return _unauthorized(request, "A valid bearer access token is required.")


@api.exception_handler(InvalidToken)
def _invalid_token(request, exc):
    return _unauthorized(request, "The token is invalid, expired or revoked.")


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    cause = exc.__cause__
    if isinstance(cause, MalformedBody):
        return problem(request, 422, "The body is not valid JSON.", errors={"body": ["Malformed JSON."]})
    if isinstance(cause, UnsupportedMediaType):
        return problem(request, 415, "Send the body as application/json.")
    if exc.status_code == 401:
        return _unauthorized(request, str(exc))
    return problem(request, exc.status_code, str(exc))


@api.exception_handler(RateLimited)
def _rate_limited(request, exc: RateLimited):
    return problem(request, 429, "Too many requests; slow down.", headers={"Retry-After": str(exc.retry_after)})


@api.exception_handler(PermissionDenied)
def _permission_denied(request, exc):
    return problem(request, 403, str(exc) or "You do not have permission to do this.")


@api.exception_handler(Http404)
def _not_found(request, exc):
    return problem(request, 404, "The resource does not exist.")


@api.exception_handler(ObjectDoesNotExist)
def _does_not_exist(request, exc):
    return problem(request, 404, "The resource does not exist.")


@api.exception_handler(IntegrityError)
def _integrity_error(request, exc):
    # The constraint's name and values stay in the server log; the caller learns only that it conflicts.
    logger.warning("integrity error on %s: %s", request.path, exc.__class__.__name__)
    return problem(request, 409, "The request conflicts with the current state of the data.")


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return problem(request, 413, "The request body is too large.")


@api.exception_handler(SuspiciousOperation)
def _suspicious(request, exc):
    return problem(request, 400, "The request was refused.", code="BAD_REQUEST")


@api.exception_handler(MultiPartParserError)
def _bad_multipart(request, exc):
    # e.g. `multipart/form-data` without a boundary: the body cannot be read at all.
    return problem(request, 400, "The multipart body is malformed (a boundary is required).", code="BAD_REQUEST")


@api.exception_handler(NulInQuery)
def _nul_in_query(request, exc):
    return problem(request, 422, "Query and form fields cannot contain NUL characters.")


@api.exception_handler(ValueError)
def _value_error(request, exc: ValueError):
    # The database driver refuses NUL characters (e.g. in a multipart field) with a ValueError.
    if "NUL" in str(exc):
        return problem(request, 422, "Text cannot contain NUL characters.")
    return _unexpected(request, exc)


@api.exception_handler(Exception)
def _unexpected(request, exc):
    from vanguard.middleware import _database_unavailable

    if _database_unavailable(exc):  # the request was not processed: the client may retry (as handler500 does)
        logger.error("database unavailable on %s %s: %s", request.method, request.path, exc.__class__.__name__)
        return problem(
            request, 503, "The service is temporarily unavailable; retry shortly.", headers={"Retry-After": "5"}
        )
    logger.exception("unhandled error on %s %s", request.method, request.path)
    return problem(request, 500, "An unexpected error occurred. Quote the correlation id when reporting it.")


# --- plain Django handlers for /api/ URLs that never reach ninja (unknown path, bad UUID in the path) ----
def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return problem(request, 404, "The resource does not exist.")
    return page_not_found(request, exception)


def api_not_found(request, rest: str = ""):
    """The last /api/ URL pattern: an unknown API path is a problem document in every mode (with DEBUG on,
    Django would answer its HTML debug page instead of calling handler404)."""
    return problem(request, 404, "The resource does not exist.")


# --- routers ------------------------------------------------------------------------------------------------
def _mount() -> None:
    from claims.api import router as claims_router
    from claims.financials.api import claim_router as claim_money_router
    from claims.financials.api import payment_router
    from compliance.api import router as compliance_router
    from customers.api import router as customers_router
    from policies.api import router as policies_router
    from vanguard.accounts.api import router as auth_router

    api.add_router("/auth", auth_router)
    api.add_router("/customers", customers_router)
    api.add_router("/policies", policies_router)
    api.add_router("/claims", claims_router)
    api.add_router("/claims", claim_money_router)  # /claims/{claim_id}/financials|reserves|payments|recoveries
    api.add_router("/payments", payment_router)
    api.add_router("/audit-logs", compliance_router)


_mount()
