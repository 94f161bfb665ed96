"""Security settings (SPEC §6): headers on the admin, the API and the docs; CORS; production start-up refusals;
`check --deploy` clean under production settings; the 503 page for a lost database."""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

from tests.ops.conftest import PRODUCTION_KEYS, base_env, manage, production_env
from vanguard.api_support.http import problem
from vanguard.middleware import server_error

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "geolocation=(), microphone=(), camera=()",
}


def _assert_security_headers(response) -> None:
    for header, value in EXPECTED.items():
        assert response.get(header) == value, header
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
    assert response["X-Request-ID"]


def _script_and_style_sources(html: str) -> list[str]:
    import re

    return re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)


@pytest.mark.django_db
def test_admin_pages_carry_the_security_headers_and_load_only_own_assets(client, superuser):
    # given
    client.force_login(superuser)
    # when
    login_page = client.get("/admin/login/")
    index = client.get("/admin/")
    # then
    for response in (login_page, index):
        assert response.status_code in (200, 302)
        _assert_security_headers(response)
    assets = _script_and_style_sources(index.content.decode())
    assert assets and all(url.startswith("/") and not url.startswith("//") for url in assets), assets
    assert "<script>" not in index.content.decode()  # inline script would be blocked by the CSP


@pytest.mark.django_db
def test_api_responses_carry_the_security_headers(client):
    # when
    response = client.get("/api/auth/me")
    # then
    assert response.status_code == 401
    _assert_security_headers(response)


@pytest.mark.django_db
def test_the_api_docs_work_under_the_csp(client, superuser):
    # given
    client.force_login(superuser)  # the docs are staff-only in production
    # when
    response = client.get("/api/docs")
    # then
    if response.status_code == 404:
        pytest.skip("/api/docs is not mounted")
    assert response.status_code == 200
    _assert_security_headers(response)
    html = response.content.decode()
    assets = _script_and_style_sources(html)
    # Swagger UI from ninja's own static files (ninja in INSTALLED_APPS), not a CDN: script-src 'self' admits them.
    assert any("swagger-ui-bundle.js" in url for url in assets)
    assert all(url.startswith("/static/") for url in assets if url.endswith((".js", ".css"))), assets
    assert "cdn." not in html
    assert client.get("/api/openapi.json").status_code == 200


@pytest.mark.django_db
def test_cors_preflight_from_a_configured_frontend(client, settings):
    # given
    settings.CORS_ALLOWED_ORIGINS = ["https://portal.example.com"]
    # when
    response = client.options(
        "/api/customers",
        HTTP_ORIGIN="https://portal.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="PATCH",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, x-request-id",
    )
    # then
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://portal.example.com"
    assert response["Access-Control-Allow-Credentials"] == "true"
    assert "PATCH" in response["Access-Control-Allow-Methods"]
    assert "x-request-id" in response["Access-Control-Allow-Headers"]


@pytest.mark.django_db
def test_cors_exposes_request_id_and_rate_limit_headers_only_to_configured_origins(client, settings):
    # given
    settings.CORS_ALLOWED_ORIGINS = ["https://portal.example.com"]
    # when
    allowed = client.get("/api/auth/me", HTTP_ORIGIN="https://portal.example.com")
    foreign = client.get("/api/auth/me", HTTP_ORIGIN="https://evil.example.net")
    admin = client.get("/admin/login/", HTTP_ORIGIN="https://portal.example.com")
    # then
    exposed = {name.strip().lower() for name in allowed["Access-Control-Expose-Headers"].split(",")}
    assert {"x-request-id", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining"} <= exposed
    assert "Access-Control-Allow-Origin" not in foreign
    assert "Access-Control-Allow-Origin" not in admin  # CORS is for the API only


def test_a_lost_database_is_a_503_problem_for_the_api_and_a_503_page_for_the_admin():
    # given
    factory = RequestFactory()
    api_request, admin_request = factory.get("/api/customers"), factory.get("/admin/")
    api_request.request_id = admin_request.request_id = "req-503"
    # when
    try:
        raise OperationalError("connection to server at 127.0.0.1 failed: password=hunter2")
    except OperationalError:
        api_response, admin_response = server_error(api_request), server_error(admin_request)
    # then
    assert api_response.status_code == 503 and api_response["Retry-After"]
    assert api_response["Content-Type"] == "application/problem+json"
    body = json.loads(api_response.content)
    assert body["code"] == "SERVICE_UNAVAILABLE" and body["correlation_id"] == "req-503"
    # the API's one problem shape (vanguard.api_support.http.problem), not a second one of its own
    assert body == json.loads(problem(api_request, 503, body["detail"], code="SERVICE_UNAVAILABLE").content)
    assert admin_response.status_code == 503 and b"req-503" in admin_response.content
    for response in (api_response, admin_response):
        assert b"hunter2" not in response.content and b"127.0.0.1" not in response.content


def test_other_errors_stay_500_without_internals():
    # given
    request = RequestFactory().get("/api/customers")
    # when
    try:
        raise ValueError("secret internals")
    except ValueError:
        response = server_error(request)
    # then
    assert response.status_code == 500 and b"secret internals" not in response.content


# --- production settings, in subprocesses (settings are read once per process) ------------------------------------


def test_check_deploy_reports_no_warnings_under_production_settings():
    # when
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_enables_hsts_and_secure_cookies():
    # when
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; import json; print(json.dumps([s.SECURE_HSTS_SECONDS, "
        "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.DEBUG]))",
        env=production_env(),
    )
    # then
    assert result.returncode == 0, result.stderr
    hsts, subdomains, session_secure, csrf_secure, redirect, debug = json.loads(result.stdout.strip().splitlines()[-1])
    assert hsts >= 31536000 and subdomains and session_secure and csrf_secure and redirect and not debug


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SECRET_KEY", ""),
        ("JWT_SIGNING_KEY", ""),
        ("PII_HASH_KEY", ""),
        ("SECRET_KEY", "dev-insecure-abcdefghijklmnopqrstuvwxyz0123456789"),
        ("JWT_SIGNING_KEY", "dev-insecure-abcdefghijklmnopqrstuvwxyz0123456789"),
    ],
)
def test_production_refuses_to_start_on_a_missing_or_development_key(key, value):
    # when
    result = manage("check", env=production_env(**{key: value}))
    # then
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and key in result.stderr
    for secret in PRODUCTION_KEYS.values():
        assert secret not in result.stderr + result.stdout
    if value:
        assert value not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DATABASE_URL", "sqlite:///prod.sqlite3"), ("REDIS_URL", ""), ("DJANGO_DEBUG", "true")],
)
def test_production_refuses_a_development_setup(variable, value):
    # when
    result = manage("check", env=production_env(**{variable: value}))
    # then
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WEB_THREADS", "0"),
        ("AUDIT_SEAL_DELAY_SECONDS", "-1"),
        ("AUDIT_SEAL_DELAY_SECONDS", "6"),
        ("DB_PREPARE_THRESHOLD", "0"),
        ("DB_PREPARE_THRESHOLD", "often"),
    ],
)
def test_a_performance_knob_out_of_range_stops_the_process_with_its_name(variable, value):
    # when: a request bound of no thread, a negative sealer delay, one longer than beat's sealing interval (5 s),
    # a prepare threshold that is not a count (PostgreSQL settings; nothing connects for `check`)
    env = base_env(DATABASE_URL="postgres://postgres@127.0.0.1:5432/vanguard", **{variable: value})
    result = manage("check", env=env)
    # then
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and variable in result.stderr


def test_admin_url_names_are_stable():
    try:
        reverse("admin:login")
    except NoReverseMatch:  # pragma: no cover
        pytest.fail("the admin is not mounted")


def test_the_middleware_deploy_checks_accept_the_inline_subclasses_and_warn_when_one_is_missing(settings):
    from vanguard.checks import check_security_middleware

    assert check_security_middleware(None) == []
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if not m.endswith((".SecurityMiddleware", ".CsrfViewMiddleware"))
    ]
    assert [w.id for w in check_security_middleware(None)] == ["vanguard.W001", "vanguard.W003"]
