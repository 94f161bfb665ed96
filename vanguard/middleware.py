"""Async-capable middleware: request id with the access log, audit context, and the 503 for a database outage.

Every class runs natively in sync and async mode, so an async API request never hops threads for them.
"""

from __future__ import annotations

import logging
import sys
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.utils.functional import empty
from django.utils.html import escape

from compliance.audit import audit_context
from vanguard.core.net import _is_trusted_proxy, _parse_address, address_in, client_ip  # noqa: F401 - re-exported
from vanguard.core.request_context import clean_request_id, request_id_var, user_id_var

access_logger = logging.getLogger("vanguard.access")


class _Both:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)


class RequestIdMiddleware(_Both):
    """Accept `X-Request-ID` (or mint one), keep it for logs and audit rows, echo it back, and write the one
    access-log line of the request.

    The access line holds the route pattern (``api/customers/<uuid:customer_id>``), never the path's query string or
    the body, so no search term or personal value reaches the log.
    """

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        token = self._start(request)
        try:
            response = self.get_response(request)
            self._finish(request, response)
        finally:
            request_id_var.reset(token)
        return response

    async def __acall__(self, request):
        token = self._start(request)
        try:
            response = await self.get_response(request)
            self._finish(request, response)
        finally:
            request_id_var.reset(token)
        return response

    @staticmethod
    def _start(request):
        request.request_id = clean_request_id(request.headers.get("X-Request-ID"))
        request.started_at = time.monotonic()
        return request_id_var.set(request.request_id)

    @staticmethod
    def _finish(request, response) -> None:
        response["X-Request-ID"] = request.request_id
        match = getattr(request, "resolver_match", None)
        access_logger.info(
            "%s %s %s",
            request.method,
            match.route if match is not None else "<unmatched>",
            response.status_code,
            extra={
                "method": request.method,
                "route": match.route if match is not None else None,
                "view": match.view_name if match is not None else None,
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - request.started_at) * 1000, 2),
                "user_id": _user_id(request),
            },
        )


class ApiResponseMiddleware(_Both):
    """Finishes API responses: the caller's rate-limit quota as X-RateLimit-* headers (SPEC §6), and
    django-ninja's plain-text 405 for a wrong method turned into an RFC 7807 problem (the Allow header kept)."""

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return self._finish(request, self.get_response(request))

    async def __acall__(self, request):
        return self._finish(request, await self.get_response(request))

    @staticmethod
    def _finish(request, response):
        if not request.path.startswith("/api/"):
            return response
        if response.status_code == 405 and not response.get("Content-Type", "").startswith("application/problem+json"):
            from vanguard.api_support.http import problem

            allowed = response.get("Allow", "")
            response = problem(
                request, 405, f"{request.method} is not allowed here. Allowed: {allowed}.", headers={"Allow": allowed}
            )
        quota = getattr(request, "rate_quota", None)
        if quota is not None:
            for name, value in quota.headers().items():
                response[name] = value
        return response


def _user_id(request) -> str | None:
    """The signed-in user's id, without triggering a lazy session lookup (a query, and in async code an error)."""
    auth = getattr(request, "auth", None)  # django-ninja: the authenticated user of a token request
    if getattr(auth, "pk", None) is not None:
        return str(auth.pk)
    user = request.__dict__.get("user")
    if user is not None:
        wrapped = getattr(user, "_wrapped", user)
        if wrapped is not empty and getattr(wrapped, "is_authenticated", False):
            return str(wrapped.pk)
    cached = request.__dict__.get("_acached_user")
    if cached is not None and getattr(cached, "is_authenticated", False):
        return str(cached.pk)
    return user_id_var.get()


# --- proxy headers: trusted only from the proxies in TRUSTED_PROXIES (the same list gunicorn.conf.py gives uvicorn) --


class ProxyHeadersMiddleware(_Both):
    """Believe ``X-Forwarded-Proto`` only from a trusted proxy.

    Django's ``SECURE_PROXY_SSL_HEADER`` (set only when ``TRUSTED_PROXIES`` is) trusts the header from whoever sends
    it; here it is dropped unless the peer is a trusted proxy, so a direct client cannot claim HTTPS. Under gunicorn
    uvicorn has already turned a trusted proxy's header into the ASGI scheme, which Django falls back to.
    X-Forwarded-For needs no treatment here: ``client_ip`` reads it under the same rule.
    """

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        self._clean(request)
        return self.get_response(request)

    async def __acall__(self, request):
        self._clean(request)
        return await self.get_response(request)

    @staticmethod
    def _clean(request) -> None:
        if "HTTP_X_FORWARDED_PROTO" in request.META and not _is_trusted_proxy(request.META.get("REMOTE_ADDR")):
            del request.META["HTTP_X_FORWARDED_PROTO"]


class AuditContextMiddleware(_Both):
    """Attribute audit rows to the signed-in staff user (session auth: the admin).

    Token-authenticated API requests set their own actor in the bearer auth class, which runs inside
    this context. The actor is set once here, at the edge, never inside services.
    """

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
        with audit_context(actor=actor, remote_addr=client_ip(request)):
            return self.get_response(request)

    async def __acall__(self, request):
        actor = None
        if request.COOKIES and hasattr(request, "auser"):
            user = await request.auser()
            actor = user if user.is_authenticated else None
        with audit_context(actor=actor, remote_addr=client_ip(request)):
            return await self.get_response(request)


# --- the 500 handler: a database outage is a 503, not a crash ---------------------------------------------------

RETRY_AFTER_SECONDS = 5


def _database_unavailable(exc: BaseException | None) -> bool:
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    try:
        from psycopg_pool import PoolTimeout
    except ImportError:  # pragma: no cover - psycopg_pool is pinned
        return False
    return isinstance(exc, PoolTimeout)


def server_error(request, *args, **kwargs):
    """``handler500``. Django calls it for every uncaught exception, raised in a view or in a middleware (a session
    lookup, say), while the exception is being handled. A lost database connection or an exhausted pool answers 503
    with ``Retry-After``: the request was not processed and may be retried; everything else is a plain 500. Neither
    says anything about the failure beyond its kind."""
    unavailable = _database_unavailable(sys.exc_info()[1])
    status = 503 if unavailable else 500
    wants_json = request.path.startswith("/api/") or "json" in request.headers.get("Accept", "")
    if wants_json:
        from vanguard.api_support.http import problem  # the one problem shape of the API

        detail = (
            "The service is temporarily unavailable; retry shortly." if unavailable else "An unexpected error occurred."
        )
        response = problem(request, status, detail, code="SERVICE_UNAVAILABLE" if unavailable else "INTERNAL_ERROR")
    else:
        title = "Service temporarily unavailable" if unavailable else "Server error"
        advice = "Please try again in a moment." if unavailable else "The error has been logged."
        reference = escape(getattr(request, "request_id", "") or "")
        content = (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
            f"<body><h1>{title}</h1><p>{advice}</p><p>Reference: <code>{reference}</code></p></body></html>"
        )
        response = HttpResponse(content, status=status, content_type="text/html; charset=utf-8")
    if unavailable:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
