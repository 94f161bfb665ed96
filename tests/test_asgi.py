"""The admin through the ASGI handler, where `vanguard.inline_middleware` runs its hooks on the event loop: CSRF
still refuses a forged post, a sign-in still saves its session (in a thread), and request threads are reused."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[1]


def _get(client, path):
    return async_to_sync(client.get)(path)


def _post(client, path, data):
    return async_to_sync(client.post)(path, data)


def test_the_admin_sign_in_over_asgi_enforces_csrf_and_keeps_the_session(superuser):
    # given: a browser that sends no CSRF token, and one that does
    forger, browser = AsyncClient(enforce_csrf_checks=True), AsyncClient(enforce_csrf_checks=True)
    credentials = {"username": superuser.email, "password": PASSWORD, "next": "/admin/"}
    # when
    forged = _post(forger, "/admin/login/", credentials)
    page = _get(browser, "/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    signed_in = _post(browser, "/admin/login/", {**credentials, "csrfmiddlewaretoken": token})
    index = _get(browser, "/admin/")
    # then: the forged post is refused; the real one signs in, its session is saved and used on the next page
    assert forged.status_code == 403
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    assert "sessionid" in signed_in.cookies
    assert index.status_code == 200 and 'action="/admin/logout/"' in index.content.decode()
    assert page["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in page


@pytest.mark.urls("tests.asgi_urls")
def test_the_csrf_middleware_refuses_a_forged_post_over_asgi_and_accepts_a_real_one():
    # given: a view that relies on the middleware alone (the admin's views also protect themselves)
    forger, browser = AsyncClient(enforce_csrf_checks=True), AsyncClient(enforce_csrf_checks=True)
    token = _get(browser, "/form").content.decode()
    # when
    forged = _post(forger, "/form", {"x": "1"})
    real = _post(browser, "/form", {"x": "1", "csrfmiddlewaretoken": token})
    # then
    assert forged.status_code == 403
    assert real.status_code == 200 and real.content == b"accepted"


def test_request_threads_are_reused_not_started_per_request():
    from tests.ops.test_health import _asgi_get
    from vanguard.asgi import django_application

    # when: requests one after another through the project's ASGI application
    for _ in range(3):
        assert async_to_sync(_asgi_get)("/api/customers")[0] == 401
    # then: each request gave its thread back, and the next one took it again
    assert len(django_application._idle) == 1


class _CountingExecutor(ThreadPoolExecutor):
    def __init__(self):
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, *args, **kwargs):
        self.submitted += 1
        return super().submit(*args, **kwargs)


def _hops_for_one_api_request(handler) -> int:
    """Sync calls handed to the request's thread while `handler` answers an unauthenticated API request."""
    from tests.ops.test_health import _asgi_get

    async_to_sync(_asgi_get)("/api/customers")  # warm-up: middleware chain built, settings read
    executor, idle = _CountingExecutor(), list(handler._idle)
    handler._idle[:] = [executor]
    try:
        status = async_to_sync(_asgi_get)("/api/customers")[0]
    finally:
        handler._idle[:] = idle  # the handler put the counting executor back: later requests must not get it
        executor.shutdown()
    assert status == 401
    return executor.submitted


def test_the_middleware_stack_hands_an_api_request_to_no_thread(settings):
    # vanguard/inline_middleware.py's gain (measured +20% on API reads) comes from running Django's hooks inline:
    # the project's whole stack must cost an API request no more thread hops than an empty stack does.
    from vanguard import asgi

    with_stack = _hops_for_one_api_request(asgi.django_application)
    settings.MIDDLEWARE = []
    bare = asgi.ReusedThreadASGIHandler()
    original, asgi.django_application = asgi.django_application, bare
    try:
        without_stack = _hops_for_one_api_request(bare)
    finally:
        asgi.django_application = original
    assert with_stack == without_stack
    # and the stock classes the project subclasses would have added a hop per hook
    settings.MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
    ]
    stock = asgi.ReusedThreadASGIHandler()
    asgi.django_application = stock
    try:
        assert _hops_for_one_api_request(stock) > without_stack
    finally:
        asgi.django_application = original


def test_request_started_costs_no_thread_hop_while_only_djangos_receivers_listen(settings):
    # vanguard/asgi.py: Django's two request_started receivers have nothing to do on a reused request thread, so
    # they are not handed to it; the only hop an unauthenticated API request makes is request_finished's.
    from django.core.signals import request_started

    from vanguard import asgi

    assert asgi._only_stock_request_started()
    stock = _hops_for_one_api_request(asgi.django_application)
    # when: another receiver listens (it must run, on the request's thread, as Django would run it)
    seen: list[str] = []

    def receiver(sender, **kwargs):
        import threading

        seen.append(threading.current_thread().name)

    request_started.connect(receiver)
    try:
        with_receiver = _hops_for_one_api_request(asgi.django_application)
    finally:
        request_started.disconnect(receiver)
    # then: one hop more, and the receiver ran on a request thread, not on the event loop
    assert with_receiver == stock + 1
    assert seen and all(name.startswith("request") or name.startswith("ThreadPoolExecutor") for name in seen)
    assert stock == 1


def test_request_started_is_sent_as_stock_when_connections_outlive_a_request(settings):
    from vanguard import asgi

    settings.DEBUG = True
    assert _hops_for_one_api_request(asgi.django_application) == 2


@pytest.mark.django_db(transaction=True)
def test_a_request_thread_holds_no_database_connection_between_requests():
    # given: a request that uses the database (readiness reads it) on the handler's reused thread
    from django.db import connections

    from tests.ops.test_health import _asgi_get
    from vanguard import asgi

    async_to_sync(_asgi_get)("/api/customers")
    executor = asgi.django_application._idle[-1]
    # when
    status = async_to_sync(_asgi_get)("/health/ready")[0]
    # then: the thread it ran on (taken from and given back to the idle list) has given its connection back
    assert status in (200, 503)
    assert asgi.django_application._idle[-1] is executor
    assert executor.submit(lambda: connections["default"].connection).result() is None


def test_a_worker_runs_at_most_web_threads_requests_at_once_and_answers_the_rest(settings):
    # vanguard/asgi.py: requests beyond WEB_THREADS wait for a request thread instead of all taking turns at the GIL
    import asyncio
    import threading

    from asgiref.sync import sync_to_async

    from vanguard import asgi

    settings.WEB_THREADS = 2
    handler = asgi.ReusedThreadASGIHandler()
    running, most, threads = 0, 0, set()

    async def handle(scope, receive, send):
        nonlocal running, most
        running += 1
        most = max(most, running)
        threads.add(await sync_to_async(threading.get_ident)())
        await asyncio.sleep(0.02)
        running -= 1
        await send({"type": "done", "path": scope["path"]})

    handler.handle = handle
    answered: list[str] = []

    async def send(message):
        answered.append(message["path"])

    async def five_at_once():
        await asyncio.gather(*(handler({"type": "http", "path": f"/{i}"}, None, send) for i in range(5)))

    # when
    async_to_sync(five_at_once)()
    # then: two at a time, on two reused threads, and every request answered
    assert most == 2
    assert len(threads) == 2 and len(handler._idle) == 2
    assert sorted(answered) == [f"/{i}" for i in range(5)]


def test_the_request_bound_holds_on_every_event_loop_that_serves_the_handler(settings):
    # A handler is built once per process and may serve more than one event loop (a test's async_to_sync calls, a
    # live test server): requests that have to wait for a slot must work on each of them.
    import asyncio

    from vanguard import asgi

    settings.WEB_THREADS = 1
    handler = asgi.ReusedThreadASGIHandler()
    answered: list[str] = []

    async def handle(scope, receive, send):
        await asyncio.sleep(0.01)
        await send({"path": scope["path"]})

    async def send(message):
        answered.append(message["path"])

    handler.handle = handle

    async def three_at_once(loop_name):
        await asyncio.gather(*(handler({"type": "http", "path": f"/{loop_name}/{i}"}, None, send) for i in range(3)))

    # when: two loops, one after the other, each with requests queued behind the one slot
    async_to_sync(three_at_once)("a")
    async_to_sync(three_at_once)("b")
    # then
    assert sorted(answered) == [f"/{name}/{i}" for name in "ab" for i in range(3)]


@pytest.mark.parametrize(("status", "hops"), [(401, 0), (404, 0), (422, 0), (503, 1)])
def test_a_4xx_is_logged_on_the_event_loop_and_a_5xx_from_a_thread(monkeypatch, caplog, status, hops):
    # given: a handler whose chain answers `status`, and every hand-over to a thread counted (ours and Django's)
    import django.core.handlers.base as base
    from django.http import HttpResponse
    from django.test import RequestFactory

    from vanguard import asgi

    handed = []

    def counting(fn, **kwargs):
        handed.append(fn.__name__)
        return sync_to_async(fn, **kwargs)

    monkeypatch.setattr(asgi, "sync_to_async", counting)
    monkeypatch.setattr(base, "sync_to_async", counting)
    handler = asgi.ReusedThreadASGIHandler()

    async def chain(request):
        return HttpResponse(status=status)

    handler._middleware_chain = chain
    # when
    with caplog.at_level("WARNING", logger="django.request"):
        response = async_to_sync(handler.get_response_async)(RequestFactory().get("/api/customers"))
    # then: the same django.request line as Django writes; a thread only for a 5xx (mail_admins may send it)
    assert response.status_code == status
    assert [r.getMessage() for r in caplog.records if r.name == "django.request"] == [
        f"{response.reason_phrase}: /api/customers"
    ]
    assert handed.count("log_response") == hops


def test_the_entry_point_loads_the_urlconf_and_freezes_what_startup_built():
    # A fresh interpreter, as a worker starts: importing the ASGI entry point imports every API module and leaves
    # the objects built so far in the collector's permanent generation, so no full collection walks them.
    script = (
        "import gc, sys, json\n"
        "import vanguard.asgi\n"
        "print(json.dumps({'frozen': gc.get_freeze_count(), 'left': len(gc.get_objects()),"
        " 'urlconf': 'customers.api' in sys.modules}))\n"
    )
    done = subprocess.run(  # noqa: S603 (this interpreter, a fixed script)
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True, timeout=120
    )
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state["urlconf"], state
    # most of what startup built is frozen: what is left for the collector is a small fraction of it
    assert state["frozen"] > 50_000 and state["left"] < state["frozen"] / 10, state
