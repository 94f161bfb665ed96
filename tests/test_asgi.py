"""The admin through the ASGI handler, where `vanguard.inline_middleware` runs its hooks on the event loop: CSRF
still refuses a forged post, a sign-in still saves its session (in a thread), and request threads are reused."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


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
