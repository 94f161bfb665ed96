"""Liveness and readiness probes.

``/health`` is liveness: it touches nothing (no database, cache or template), so a slow database never gets a healthy
process restarted. ``/health/ready`` is readiness: the database, the cache, the broker (when one is configured) and
the encryption canary, each with its latency in milliseconds; 503 when any of them fails, so a load balancer stops
sending traffic. Failures are reported by exception class only: messages can quote connection URLs or row data.
``notes`` carries informational items (the last audit-chain verification, the last reconciliation of the claims'
financial totals) that never change the status.

Both answer like every other response: the security headers and ``X-Request-ID``, and 400 for a Host that is not
in ALLOWED_HOSTS (loopback names excepted, for the container's own HEALTHCHECK). The readiness details (checks,
latencies, key id, audit chain) are shown only to signed-in staff and to callers in ``HEALTH_DETAIL_NETWORKS``;
anyone else learns the status alone.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import secrets
import time
from collections.abc import Callable
from importlib import import_module

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache

from vanguard.core.request_context import clean_request_id, request_id_var
from vanguard.middleware import _Both, address_in, client_ip

logger = logging.getLogger("vanguard.health")

CheckResult = tuple[bool, str]
PROBE_PATHS = frozenset({"/health", "/health/ready"})
ALIVE_BODY = b'{"status":"ok"}'
BAD_HOST_BODY = b'{"status":"bad request","detail":"Host not allowed"}'
# Addressed to the instance itself from inside it (Docker HEALTHCHECK): not a name a browser could be rebound to.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


# --- the headers of an ordinary response, and the Host rule -------------------------------------------------------


class _BareRequest(HttpRequest):
    def __init__(self, secure: bool):
        super().__init__()
        self._scheme = "https" if secure else "http"

    def _get_scheme(self) -> str:
        return self._scheme


@functools.cache
def security_headers(secure: bool) -> tuple[tuple[str, str], ...]:
    """The security headers every other response carries, as the very middleware in MIDDLEWARE that adds them
    produces them (computed once per scheme), so the probes cannot drift from the rest of the app."""
    from vanguard.security import SecurityHeadersMiddleware

    header_classes = (SecurityMiddleware, XFrameOptionsMiddleware, SecurityHeadersMiddleware)
    request, response = _BareRequest(secure), HttpResponse()
    for path in reversed(settings.MIDDLEWARE):  # the order in which they see a response
        cls = import_string(path)
        if not (isinstance(cls, type) and issubclass(cls, header_classes)):
            continue
        middleware = cls(lambda request: response)
        if hasattr(middleware, "process_response"):
            middleware.process_response(request, response)
        else:
            middleware(request)  # decorates the response its get_response returns
    return tuple((name, value) for name, value in response.headers.items() if name.lower() != "content-type")


@functools.lru_cache(maxsize=256)
def host_allowed(host: str) -> bool:
    """Django's ALLOWED_HOSTS rule (``HttpRequest.get_host``), plus the loopback names."""
    domain, _port = split_domain_port(host)
    if not domain:
        return False
    if domain in LOOPBACK_HOSTS:
        return True
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return validate_host(domain, allowed)


@functools.cache
def _asgi_headers(secure: bool, ok: bool) -> list[tuple[bytes, bytes]]:
    body = ALIVE_BODY if ok else BAD_HOST_BODY
    fixed = [("content-type", "application/json"), ("content-length", str(len(body))), ("cache-control", "no-store")]
    return [(name.lower().encode(), value.encode("latin-1")) for name, value in [*fixed, *security_headers(secure)]]


def _settings_changed(*, setting: str, **kwargs) -> None:
    # Tests change settings at run time; a server reads them once.
    security_headers.cache_clear()
    _asgi_headers.cache_clear()
    host_allowed.cache_clear()


setting_changed.connect(_settings_changed)


class _IdMinter:
    """Request ids for liveness in the shape of ``uuid4().hex`` (32 hex digits) at a fraction of its cost: a random
    per-process prefix (drawn again in a forked worker) and a counter. Unique, which is all an id must be."""

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.counter = itertools.count()

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


_mint_request_id = _IdMinter()


async def asgi_liveness(scope, send) -> None:
    """``GET``/``HEAD /health`` answered at the ASGI layer (vanguard/asgi.py), before Django: only a header scan,
    a cached host check and the precomputed header list."""
    host = request_id = b""
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
        elif name == b"x-request-id":
            request_id = value
    if host:
        ok = host_allowed(host.decode("latin-1"))
    else:  # HTTP/1.0 without Host: Django would use the server's own name
        server = scope.get("server")
        ok = bool(server) and host_allowed(f"{server[0]}:{server[1]}")
    request_id = clean_request_id(request_id.decode("latin-1")) if request_id else _mint_request_id()
    headers = [*_asgi_headers(scope.get("scheme") == "https", ok), (b"x-request-id", request_id.encode())]
    await send({"type": "http.response.start", "status": 200 if ok else 400, "headers": headers})
    body = ALIVE_BODY if ok else BAD_HOST_BODY
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def _alive() -> HttpResponse:
    return HttpResponse(ALIVE_BODY, content_type="application/json")


async def health(request):
    return _alive()


def check_database() -> CheckResult:
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, "ok"


def check_cache() -> CheckResult:
    from django.core.cache import cache

    key, nonce = "vanguard:readiness", secrets.token_hex(8)
    cache.set(key, nonce, timeout=30)
    if cache.get(key) != nonce:
        return False, "cache did not return the value just written"
    return True, "ok"


def check_broker() -> CheckResult:
    from kombu import Connection

    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    return True, "ok"


def check_encryption() -> CheckResult:
    """Decrypt the canary. The compliance app owns the canary when it provides one; until then a stored customer's
    encrypted fields are decrypted (a wrong key raises on load)."""
    try:
        from compliance.keys import encryption_canary_check
    except ImportError:
        encryption_canary_check = None
    if encryption_canary_check is not None:
        ok, detail = encryption_canary_check()
        return bool(ok), str(detail)
    from customers.models import Customer

    row = Customer.objects.order_by().only("id", "phone", "date_of_birth", "address", "ssn").first()
    if row is None:
        return True, "no encrypted data stored yet"
    return True, "ok"


def _run(check: Callable[[], CheckResult]) -> dict:
    started = time.perf_counter()
    try:
        ok, detail = check()
    except Exception as exc:
        ok, detail = False, f"unavailable ({type(exc).__name__})"
    return {"ok": ok, "latency_ms": round((time.perf_counter() - started) * 1000, 2), "detail": detail}


def readiness_checks() -> dict[str, dict]:
    checks: dict[str, Callable[[], CheckResult]] = {"database": check_database, "cache": check_cache}
    if settings.CELERY_BROKER_URL:
        checks["broker"] = check_broker
    checks["encryption"] = check_encryption
    return {name: _run(check) for name, check in checks.items()}


def _note_sources() -> dict[str, Callable[[], dict]]:
    sources: dict[str, Callable[[], dict]] = {}
    try:
        from compliance.selectors import audit_chain_status
    except ImportError:
        pass
    else:
        sources["audit_chain"] = audit_chain_status
    try:
        from claims.financials.verify import financials_verification_status
    except ImportError:
        pass
    else:
        sources["claim_financials"] = financials_verification_status
    return sources


def readiness_notes(*, database_ok: bool = True) -> dict[str, dict]:
    """Informational items that never change the readiness status: the last audit-chain verification (SPEC §5: a
    break is alerted in the log and noted here; the instance can still serve traffic) and the last reconciliation
    of the claims' stored financial totals with their rows (SPEC §10.2, the same way)."""
    notes: dict[str, dict] = {}
    for name, status in _note_sources().items():
        if not database_ok:  # already reported as a failing check; do not wait on the database a second time
            notes[name] = {"ok": None, "verified_at": None, "detail": "unknown: the database is unavailable"}
            continue
        try:
            notes[name] = status()
        except Exception as exc:  # a note must not turn readiness into a 500
            notes[name] = {"ok": None, "verified_at": None, "detail": f"unavailable ({type(exc).__name__})"}
    return notes


def may_see_details(request, *, database_ok: bool) -> bool:
    """Callers from HEALTH_DETAIL_NETWORKS (the operators' probes, by default the loopback interface), and staff
    signed in to the admin. The session is read here because the probes answer before the session middleware."""
    if address_in(client_ip(request), settings.HEALTH_DETAIL_NETWORKS):
        return True
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not session_key or not database_ok:
        return False
    from django.contrib.auth import get_user

    try:
        request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        user = get_user(request)  # verifies the session's auth hash, refuses inactive users
    except Exception as exc:  # who may see details must never turn readiness into a 500
        logger.warning("readiness: could not read the session", extra={"error": type(exc).__name__})
        return False
    return bool(user.is_active and user.is_staff)


@never_cache
def ready(request):
    results = readiness_checks()
    if not settings.CELERY_BROKER_URL:
        results["broker"] = {"ok": True, "latency_ms": 0.0, "detail": "not configured: tasks run in-process"}
    healthy = all(result["ok"] for result in results.values())
    if not healthy:
        failing = sorted(name for name, result in results.items() if not result["ok"])
        logger.error("readiness check failed", extra={"failing": failing})
    body: dict = {"status": "ok" if healthy else "unavailable"}
    if may_see_details(request, database_ok=results["database"]["ok"]):
        body["checks"] = results
        body["notes"] = readiness_notes(database_ok=results["database"]["ok"])
    return HttpResponse(orjson.dumps(body), status=200 if healthy else 503, content_type="application/json")


def _raw_host(request) -> str:
    return request.META.get("HTTP_HOST") or f"{request.META.get('SERVER_NAME', '')}:{request.META.get('SERVER_PORT')}"


def _finish(request, response: HttpResponse) -> HttpResponse:
    for name, value in security_headers(request.is_secure()):
        if name not in response:
            response[name] = value
    response["X-Request-ID"] = request.request_id
    return response


class ProbeMiddleware(_Both):
    """Answer ``/health`` and ``/health/ready`` before the rest of the stack (WSGI, the test client, and readiness
    under ASGI; ASGI liveness is answered in vanguard/asgi.py with the same headers).

    Probes come from load balancers, orchestrators and the Docker HEALTHCHECK over plain HTTP: the production HTTPS
    redirect would answer 301 and a healthy instance would look dead, and the access log would fill with them. So
    they skip the rest of the middleware but get its security headers, the request id and the host check here.
    The URL routes stay for reverse() and documentation.
    """

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        if request.path not in PROBE_PATHS:
            return self.get_response(request)
        response = self._early(request)
        if response is None:
            token = request_id_var.set(request.request_id)
            try:
                response = ready(request)
            finally:
                request_id_var.reset(token)
        return _finish(request, response)

    async def __acall__(self, request):
        if request.path not in PROBE_PATHS:
            return await self.get_response(request)
        response = self._early(request)
        if response is None:
            token = request_id_var.set(request.request_id)
            try:
                response = await sync_to_async(ready)(request)
            finally:
                request_id_var.reset(token)
        return _finish(request, response)

    @staticmethod
    def _early(request) -> HttpResponse | None:
        """The answer that needs no check: a refused Host, or liveness."""
        request.request_id = clean_request_id(request.headers.get("X-Request-ID"))
        if not host_allowed(_raw_host(request)):
            return HttpResponse(BAD_HOST_BODY, status=400, content_type="application/json")
        if request.path == "/health":
            return _alive()
        return None
