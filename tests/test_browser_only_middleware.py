"""API operations skip the browser-only middleware (`vanguard.inline_middleware.BrowserOnlyBegin` to
`browser_only_end`: static files, session, CSRF, session user, messages); the admin and the API's docs keep the
whole chain. Everything outside the block — security headers, CORS, the host check, X-Frame-Options, the request
id, the audit context — answers an API operation exactly as before."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured

from vanguard.accounts.auth import tokens_issue

pytestmark = pytest.mark.django_db

MARKERS = ("vanguard.inline_middleware.BrowserOnlyBegin", "vanguard.inline_middleware.browser_only_end")


def _handler(settings, middleware: list[str]):
    from vanguard.asgi import ReusedThreadASGIHandler

    full = settings.MIDDLEWARE
    settings.MIDDLEWARE = middleware
    try:
        return ReusedThreadASGIHandler()
    finally:
        settings.MIDDLEWARE = full


async def _call(handler, path: str, *, token: str | None = None, host: str = "127.0.0.1", origin: str | None = None):
    from tests.ops.test_health import _asgi_get

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if origin:
        headers["Origin"] = origin
    return await _asgi_get(path, host=host, request_id="req-browser-only-1", headers=headers, app=handler)


def _steady(answer):
    status, headers, body = answer
    return (
        status,
        {name: value for name, value in headers.items() if "remaining" not in name and "reset" not in name},
        body,
    )


# transaction=True: the handler's request threads read the user through connections of their own.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "authenticated"),
    [("/api/auth/me", True), ("/api/customers", False), ("/api/no-such-operation", True)],
    ids=["200", "401", "404"],
)
def test_an_api_operation_is_answered_with_the_same_headers_and_body_as_through_the_whole_chain(
    settings, superuser, path, authenticated
):
    # given: the configured chain, and the same chain without the bypass (every layer runs)
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    bypass = _handler(settings, list(settings.MIDDLEWARE))
    whole = _handler(settings, [m for m in settings.MIDDLEWARE if m not in MARKERS])
    token = tokens_issue(user=superuser)["access_token"] if authenticated else None
    # when
    origin = "https://app.example.com"
    skipped, crossed = (async_to_sync(_call)(handler, path, token=token, origin=origin) for handler in (bypass, whole))
    # then: status, every header (security headers, CORS, X-Frame-Options, X-Request-ID, Content-Length) and body
    # (the rate-limit counter moved on between the two requests: its remaining count and reset are the one difference)
    assert _steady(skipped) == _steady(crossed)
    status, headers, _ = skipped
    names = set(headers)
    assert {"x-ratelimit-limit", "x-ratelimit-remaining"} <= names or status == 404  # counted by the operations
    assert {"x-frame-options", "content-security-policy", "x-content-type-options", "x-request-id"} <= names
    assert {"content-length", "access-control-allow-origin"} <= names
    assert status == {"/api/auth/me": 200, "/api/customers": 401}.get(path, 404)


def test_an_api_operation_crosses_no_browser_only_layer(superuser, api_as):
    # when
    response = api_as(superuser).get("/api/auth/me")
    # then: no session, no lazy session user, no message storage was attached to the request
    assert response.status_code == 200
    request = response.asgi_request
    assert not hasattr(request, "session") and not hasattr(request, "auser") and not hasattr(request, "_messages")


def test_the_admin_and_the_api_docs_keep_the_session_chain(client, superuser):
    # given
    client.force_login(superuser)
    for path in ("/admin/", "/api/docs", "/api/openapi.json"):
        # when
        response = client.get(path)
        # then: signed in through the session (the docs are for staff)
        assert response.status_code == 200, path
        assert response.wsgi_request.user == superuser and hasattr(response.wsgi_request, "session")


def test_an_api_operation_for_a_host_not_allowed_is_refused(settings, superuser):
    # given
    handler = _handler(settings, list(settings.MIDDLEWARE))
    token = tokens_issue(user=superuser)["access_token"]
    # when: CommonMiddleware's host check stays outside the block
    status, _, _ = async_to_sync(_call)(handler, "/api/auth/me", token=token, host="evil.example")
    # then
    assert status == 400


def test_a_begin_marker_without_its_end_is_a_configuration_error(settings):
    # given: the end marker left out
    middleware = [m for m in settings.MIDDLEWARE if m != MARKERS[1]]
    # when / then
    with pytest.raises(ImproperlyConfigured, match="browser_only_end"):
        _handler(settings, middleware)


def test_an_api_operation_sent_with_a_staff_session_cookie_does_not_load_the_session(superuser, api_as):
    # given: a caller whose browser also holds an admin session (the docs page's "Try it out", a frontend on the
    # admin's host): the cookie comes with every API request
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = api_as(superuser)
    api.client.force_login(superuser)
    assert api.client.cookies["sessionid"].value
    api.get("/api/auth/me")  # the principal is cached from here on
    # when
    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/auth/me")
    # then: the bearer token decides; the session and its user are never read
    assert response.status_code == 200 and response.json()["email"] == superuser.email
    assert not [q["sql"] for q in queries.captured_queries if "django_session" in q["sql"]]
