"""ASGI entry point (gunicorn with uvicorn workers, see gunicorn.conf.py).

Departures from `get_asgi_application()`, all for the cost of every request:

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
- At most `WEB_THREADS` requests (default 8) run at once per worker; the next ones wait for a request thread to
  come free, in arrival order (liveness never waits: it is answered before Django). With a thread per request in
  flight and no bound, 16 requests at once meant 16 threads taking turns at the GIL: every one of them finished
  late. Measured (2026-12-02, one uvicorn worker, 16 connections, alternating rounds against the unbounded
  handler): with 8, `GET /api/customers/{id}` median ratio 1.07 and p99 139 → 119 ms (10 rounds); with 4, 1.07
  and p99 155 → 96 ms (12 rounds), `POST /api/claims` 1.03 and p99 236 → 200 ms (10 rounds); with 2, 0.97. The
  price is that `WEB_THREADS` slow requests (a lock wait, up to the 10 s lock timeout; a big export) hold up the
  worker's others, which is why the default is 8 and not 4. Tested by tests/test_asgi.py (never more than
  `WEB_THREADS` at once; the rest all answered; the bound holds on each event loop that serves the handler).
- `request_started` costs no thread hop while Django's own two receivers are its only ones (`_request_started`):
  `reset_queries` and `close_old_connections` look after the connections of the thread a request runs on, and
  this handler's request threads run nothing but requests, one at a time, each of which ends with
  `request_finished` on that same thread (`response.close()`), which — with `CONN_MAX_AGE = 0`, as configured —
  gives the connection back to the pool. At the start of the next request there is nothing left for them to do,
  yet `asend` would hand them to the thread: one hop, about 0.1 ms of CPU, on every request. Any other receiver
  (or DEBUG, or a connection kept open between requests) gets Django's behaviour. Measured (2026-12-02): the
  skipped `asend` costs 0.12 ms of CPU in a loop of its own, against about 2.2 ms for a whole customer read. One
  uvicorn worker, 16 connections, alternating 3 s rounds against the commit before (which also connected an audit
  receiver per request, see compliance.audit): `GET /api/customers/{id}` median ratio 1.08 (16 rounds, 12 won),
  `POST /api/claims` 1.05 (12 rounds); the same harness comparing the old build with itself gave 0.99. A modest
  gain, close to that machine's round-to-round noise, kept for the hop it provably removes. Tested by
  tests/test_asgi.py (one hop fewer; another receiver still runs, on the request's thread; the thread holds no
  connection between requests).
- A 4xx's `django.request` warning is written on the event loop (`get_response_async`, Django's own with that one
  change): Django hands the log line of every response >= 400 to a thread. Measured (2026-12-04, one uvicorn
  worker, 16 connections, three alternating rounds against the commit before): a 401 without a token
  959/960/1,088 against 746/927/879 requests/s, 0.95-1.08 against 1.12-1.40 ms of worker CPU; it matters for the
  cheapest traffic an attacker can send and for every 404/409/422 a client gets. A 5xx keeps the thread (its ERROR
  line may go to `mail_admins`). Tested by tests/test_asgi.py (no hand-over for a 4xx, one for a 5xx, same line).
- The objects built at startup (Django, the URLconf, ninja's schemas: about 136,000) are frozen out of the cyclic
  garbage collector (`_freeze_what_startup_built`). Python runs a full collection whenever the survivors of
  younger ones reach a quarter of the long-lived objects, and each one walked all of them with the interpreter
  stopped: every request in flight on the worker waited. Measured (2026-12-08, one uvicorn worker, 16
  connections, 15 s of customer reads, three alternating rounds, the collector timed by `gc.callbacks`): 8 full
  collections of 70-77 ms each (3.5% of the worker's time) against 11-12 of 6-11 ms; p99 85.7/89.5/85.5 ms against
  38.0/36.2/40.4 ms; requests/s within the round-to-round noise (+1%, +5%, -6%). Tested by tests/test_asgi.py (a
  fresh interpreter that imports this module has the URLconf loaded and its startup objects frozen).
"""

from __future__ import annotations

import asyncio
import gc
import os
import weakref
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections, reset_queries
from django.urls import get_resolver, set_urlconf
from django.utils.log import log_response

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vanguard.settings")

# Idle request threads kept for reuse; a burst above this many concurrent requests starts (and later stops) more.
MAX_IDLE_THREADS = 64


class ReusedThreadASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self._idle: list[ThreadPoolExecutor] = []
        # One FIFO semaphore per event loop: an asyncio primitive belongs to the loop it first waited on, and a
        # handler may serve more than one loop in a process (a live test server, async_to_sync calls).
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(settings.WEB_THREADS)
        async with slots:
            await self._run(scope, receive, send)

    async def get_response_async(self, request):
        """Django's `BaseHandler.get_response_async` (5.2), but a 4xx's `django.request` warning is logged here on
        the event loop, as the access line is: Django hands every >= 400 line to a thread of its default executor,
        a hop that made a 401 cost 1.3x a whole authenticated request that reads nothing. A 5xx keeps Django's
        hop: its ERROR line may go to `mail_admins`, which must not block the loop."""
        set_urlconf(settings.ROOT_URLCONF)
        response = await self._middleware_chain(request)
        response._resource_closers.append(request.close)
        if 400 <= response.status_code < 500:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        elif response.status_code >= 500:
            await sync_to_async(log_response, thread_sensitive=False)(
                "%s: %s", response.reason_phrase, request.path, response=response, request=request
            )
        return response

    async def _run(self, scope, receive, send):
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


_STOCK_REQUEST_STARTED = frozenset({reset_queries, close_old_connections})
_stock_request_started_asend = signals.request_started.asend


def _only_stock_request_started() -> bool:
    live = {r[1]() if isinstance(r[1], weakref.ref) else r[1] for r in signals.request_started.receivers}
    return live <= _STOCK_REQUEST_STARTED


def _connections_closed_between_requests() -> bool:
    return not settings.DEBUG and all(db.get("CONN_MAX_AGE", 0) == 0 for db in settings.DATABASES.values())


async def _request_started(sender, **named):
    if sender is ReusedThreadASGIHandler and _only_stock_request_started() and _connections_closed_between_requests():
        return []
    return await _stock_request_started_asend(sender, **named)


django.setup(set_prefix=False)
# Django's ASGIHandler.handle awaits `signals.request_started.asend(sender=self.__class__, ...)` (Django 5.2).
signals.request_started.asend = _request_started
django_application = ReusedThreadASGIHandler()

from vanguard.health import asgi_liveness  # noqa: E402 - needs the settings configured above


def _freeze_what_startup_built() -> None:
    """Import the URLconf now (every API module, ninja's routers and their schemas) rather than on the first
    request, then move every object built so far to the collector's permanent generation (`gc.freeze`): they live
    as long as the process, and a full collection no longer walks them."""
    get_resolver().url_patterns  # noqa: B018 - reading the property imports the URLconf
    gc.collect()
    gc.freeze()


_freeze_what_startup_built()


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/health" and scope["method"] in ("GET", "HEAD"):
        # The security headers, X-Request-ID and the ALLOWED_HOSTS check, precomputed (vanguard/health.py).
        await asgi_liveness(scope, send)
        return
    await django_application(scope, receive, send)
