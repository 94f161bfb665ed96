"""Liveness and readiness probes.

``/health`` is liveness: it touches nothing (no database, cache or template), so a slow database never gets a healthy
process restarted. ``/health/ready`` is readiness: the database, the cache, the broker (when one is configured) and
the encryption canary, each with its latency in milliseconds; 503 when any of them fails, so a load balancer stops
sending traffic. Failures are reported by exception class only: messages can quote connection URLs or row data.
``notes`` carries informational items (the last audit-chain verification) that never change the status.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache

from vanguard.middleware import _Both

logger = logging.getLogger("vanguard.health")

CheckResult = tuple[bool, str]


def _alive() -> HttpResponse:
    return HttpResponse(b'{"status":"ok"}', content_type="application/json")


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


def readiness_notes(*, database_ok: bool = True) -> dict[str, dict]:
    """Informational items that never change the readiness status: the last audit-chain verification
    (SPEC §5: a break is alerted in the log and noted here; the instance can still serve traffic)."""
    try:
        from compliance.selectors import audit_chain_status
    except ImportError:
        return {}
    if not database_ok:  # already reported as a failing check; do not wait on the database a second time
        return {"audit_chain": {"ok": None, "verified_at": None, "detail": "unknown: the database is unavailable"}}
    try:
        return {"audit_chain": audit_chain_status()}
    except Exception as exc:  # a note must not turn readiness into a 500
        return {"audit_chain": {"ok": None, "verified_at": None, "detail": f"unavailable ({type(exc).__name__})"}}


@never_cache
def ready(request):
    results = readiness_checks()
    if not settings.CELERY_BROKER_URL:
        results["broker"] = {"ok": True, "latency_ms": 0.0, "detail": "not configured: tasks run in-process"}
    healthy = all(result["ok"] for result in results.values())
    if not healthy:
        failing = sorted(name for name, result in results.items() if not result["ok"])
        logger.error("readiness check failed", extra={"failing": failing})
    notes = readiness_notes(database_ok=results["database"]["ok"])
    body = {"status": "ok" if healthy else "unavailable", "checks": results, "notes": notes}
    return HttpResponse(orjson.dumps(body), status=200 if healthy else 503, content_type="application/json")


class ProbeMiddleware(_Both):
    """Answer ``/health`` and ``/health/ready`` before anything else runs.

    Probes come from load balancers, orchestrators and the Docker HEALTHCHECK, addressed to the container's own IP
    over plain HTTP: host validation (ALLOWED_HOSTS) would answer 400 and the production HTTPS redirect 301, so a
    healthy instance would look dead. Placed first in MIDDLEWARE, this also keeps probes out of the access log and
    makes liveness as cheap as a response can be. The URL routes stay for reverse() and documentation.
    """

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        if request.path == "/health":
            return _alive()
        if request.path == "/health/ready":
            return ready(request)
        return self.get_response(request)

    async def __acall__(self, request):
        if request.path == "/health":
            return _alive()
        if request.path == "/health/ready":
            return await sync_to_async(ready)(request)
        return await self.get_response(request)
