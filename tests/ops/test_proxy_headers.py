"""Proxy headers as the server really serves them: gunicorn.conf.py's `forwarded_allow_ips` handed to uvicorn's
ProxyHeadersMiddleware in front of the project's ASGI application (what `uvicorn_worker.UvicornWorker` builds).

By default (no TRUSTED_PROXIES) a client on any address, loopback included, cannot choose its address with
X-Forwarded-For: not for the login lockout, the audit trail, the PII access log or the anonymous rate limit, and
X-Forwarded-Proto does not make it HTTPS. With TRUSTED_PROXIES listing the proxy, the proxy's header is used.
"""

from __future__ import annotations

import asyncio
import os
import re
import runpy
from http.cookies import SimpleCookie
from unittest import mock

import orjson
import pytest
from asgiref.sync import async_to_sync
from gunicorn.config import Config as GunicornConfig

from compliance.models import AuditEntry, PIIAccessLog
from tests.factories import CustomerFactory
from tests.ops.conftest import REPO
from vanguard.accounts.auth import tokens_issue
from vanguard.api_support.models import LoginAttempt

PEER = "127.0.0.1"  # the connecting client: gunicorn's old default trusted exactly this address


@pytest.fixture(autouse=True)
def _fresh_counters_and_handler():
    """Lockout and rate-limit counters live in the cache: every test starts from zero. Django's ASGI handler reads
    the middleware settings once, when it is built: each test gets its own, built under the test's settings."""
    from django.core.cache import cache

    from vanguard import asgi

    cache.clear()
    with mock.patch.object(asgi, "django_application", LazyHandler()):
        yield
    cache.clear()


class LazyHandler:
    """The project's ASGI handler, built at its first request (after the test has adjusted its settings)."""

    def __init__(self):
        self.handler = None

    async def __call__(self, scope, receive, send):
        if self.handler is None:
            from vanguard.asgi import ReusedThreadASGIHandler

            self.handler = ReusedThreadASGIHandler()
        await self.handler(scope, receive, send)


def gunicorn_settings(**env: str) -> dict:
    """gunicorn.conf.py executed under this environment (TRUSTED_PROXIES and FORWARDED_ALLOW_IPS unset unless given)."""
    clean = {k: v for k, v in os.environ.items() if k not in {"TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS"}}
    with mock.patch.dict(os.environ, {**clean, **env}, clear=True):
        return runpy.run_path(str(REPO / "gunicorn.conf.py"))


def forwarded_allow_ips(**env: str) -> list[str]:
    """The value the uvicorn worker reads (`cfg.forwarded_allow_ips`): the config file's string, validated by
    gunicorn into a list."""
    cfg = GunicornConfig()
    cfg.set("forwarded_allow_ips", gunicorn_settings(**env)["forwarded_allow_ips"])
    return cfg.forwarded_allow_ips


class Served:
    """The application behind uvicorn's proxy-header handling, configured as UvicornWorker configures it
    (`forwarded_allow_ips=cfg.forwarded_allow_ips`, uvicorn's default `proxy_headers=True`), with a cookie jar."""

    def __init__(self, **env: str):
        import uvicorn

        from vanguard.asgi import application

        config = uvicorn.Config(
            app=application, forwarded_allow_ips=forwarded_allow_ips(**env), log_config=None, lifespan="off"
        )
        config.load()
        self.app = config.loaded_app
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b"", peer: str = PEER
    ) -> tuple[int, dict[str, str], bytes]:
        return async_to_sync(self._request)(method, path, headers or {}, body, peer)

    async def _request(self, method, path, headers, body, peer):
        all_headers = {"host": "localhost", **{k.lower(): v for k, v in headers.items()}}
        if self.cookies:
            all_headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body:
            all_headers["content-length"] = str(len(body))
        path, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.encode(), v.encode()) for k, v in all_headers.items()],
            "client": (peer, 50123),
            "server": ("127.0.0.1", 8000),
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict] = []

        async def receive():
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # the client stays connected; Django cancels this once it has answered

        async def send(message):
            sent.append(message)

        await self.app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        response_headers: dict[str, str] = {}
        for name, value in start["headers"]:
            if name.lower() == b"set-cookie":
                cookie = SimpleCookie(value.decode())
                self.cookies.update({key: morsel.value for key, morsel in cookie.items()})
            response_headers[name.decode().lower()] = value.decode()
        return (
            start["status"],
            response_headers,
            b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
        )

    def api_login(self, email: str, *, forwarded_for: str) -> int:
        body = orjson.dumps({"email": email, "password": "Wrong-Password-1!"})
        return self.request(
            "POST",
            "/api/auth/login",
            body=body,
            headers={"content-type": "application/json", "x-forwarded-for": forwarded_for},
        )[0]

    def admin_login(self, email: str, *, forwarded_for: str) -> bytes:
        _, _, page = self.request("GET", "/admin/login/", headers={"x-forwarded-for": forwarded_for})
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
        form = f"csrfmiddlewaretoken={token}&username={email}&password=Wrong-Password-1%21".encode()
        return self.request(
            "POST",
            "/admin/login/",
            body=form,
            headers={"content-type": "application/x-www-form-urlencoded", "x-forwarded-for": forwarded_for},
        )[2]


# --- gunicorn.conf.py ---------------------------------------------------------------------------------------------


def test_gunicorn_trusts_no_proxy_by_default_and_exactly_the_trusted_proxies_when_set():
    assert forwarded_allow_ips() == []
    assert forwarded_allow_ips(TRUSTED_PROXIES=" 10.0.0.0/8, 192.0.2.7 ,") == ["10.0.0.0/8", "192.0.2.7"]
    # gunicorn's and uvicorn's own variable no longer opens the door on its own
    assert forwarded_allow_ips(FORWARDED_ALLOW_IPS="*") == []
    assert gunicorn_settings(TRUSTED_PROXIES="10.0.0.0/8")["proxy_allow_ips"] == "10.0.0.0/8"


# --- the default: no proxy is trusted -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_spoofed_forwarded_for_does_not_escape_the_address_lockout_of_the_api(settings):
    # given: the address limit lowered to 3, each failure claiming another address
    settings.LOGIN_IP_FAILURE_LIMIT, settings.API_RATE_LIMIT_ANON = 3, "1000/m"
    served = Served()
    failures = [served.api_login(f"typo{i}@vanguard.test", forwarded_for=f"198.51.100.{i}") for i in range(3)]
    # when: a fourth account, from yet another claimed address
    locked = served.api_login("someone-else@vanguard.test", forwarded_for="203.0.113.50")
    # then: the address is locked all the same, and every record carries the real peer
    assert failures == [401, 401, 401]
    assert locked == 429
    assert set(LoginAttempt.objects.values_list("ip_address", flat=True)) == {PEER}
    assert LoginAttempt.objects.get(username="someone-else@vanguard.test").locked_by == "ip"


@pytest.mark.django_db(transaction=True)
def test_a_spoofed_forwarded_for_does_not_escape_the_address_lockout_of_the_admin_login(settings):
    # given
    settings.LOGIN_IP_FAILURE_LIMIT = 3
    served = Served()
    pages = [served.admin_login(f"typo{i}@vanguard.test", forwarded_for=f"198.51.100.{i}") for i in range(3)]
    # when
    locked = served.admin_login("someone-else@vanguard.test", forwarded_for="203.0.113.50")
    # then
    assert all(b"login-lockout" not in page for page in pages)
    assert b"login-lockout" in locked
    assert set(LoginAttempt.objects.values_list("ip_address", flat=True)) == {PEER}
    assert set(LoginAttempt.objects.values_list("interface", flat=True)) == {"admin"}


@pytest.mark.django_db(transaction=True)
def test_the_audit_trail_and_the_pii_access_log_record_the_real_peer_not_the_claimed_address(customer_service):
    # given
    served = Served()
    auth = {
        "authorization": f"Bearer {tokens_issue(user=customer_service)['access_token']}",
        "x-forwarded-for": "203.0.113.66",
    }
    existing = CustomerFactory(phone="+442071234567", address="1 Analytical Row")
    new = {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+442071234568",
        "date_of_birth": "1985-12-10",
        "address": "1 Analytical Row",
        "ssn": "123-45-6789",
        "gdpr_consent": True,
    }
    # when
    status, _, body = served.request(
        "POST", "/api/customers", body=orjson.dumps(new), headers={**auth, "content-type": "application/json"}
    )
    read = served.request("GET", f"/api/customers/{existing.pk}", headers=auth)[0]
    # then
    assert (status, read) == (201, 200)
    created = AuditEntry.objects.get(object_pk=orjson.loads(body)["id"], action=AuditEntry.Action.CREATE)
    assert created.remote_addr == PEER
    assert PIIAccessLog.objects.get(customer=existing).remote_addr == PEER


@pytest.mark.django_db(transaction=True)
def test_the_anonymous_rate_limit_counts_one_address_whatever_the_header_claims(settings):
    # given
    settings.API_RATE_LIMIT_ANON = "2/m"
    served = Served()
    # when
    statuses = [
        served.request("GET", "/api/customers", headers={"x-forwarded-for": f"198.51.100.{i}"})[0] for i in range(3)
    ]
    # then
    assert statuses == [401, 401, 429]


@pytest.mark.django_db
def test_a_client_cannot_claim_https_with_x_forwarded_proto(settings):
    # given: the production redirect to HTTPS
    settings.SECURE_SSL_REDIRECT = True
    # when
    status, headers, _ = Served().request("GET", "/admin/login/", headers={"x-forwarded-proto": "https"})
    # then: still plain HTTP, so redirected
    assert status == 301 and headers["location"].startswith("https://")


# --- a trusted proxy ------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_behind_a_trusted_proxy_the_client_is_the_first_untrusted_hop_from_the_right(settings):
    # given: the proxy on the loopback interface is trusted (both layers read the one setting)
    settings.TRUSTED_PROXIES = [PEER]
    settings.LOGIN_IP_FAILURE_LIMIT, settings.API_RATE_LIMIT_ANON = 2, "1000/m"
    served = Served(TRUSTED_PROXIES=PEER)
    # when: a client that wrote its own X-Forwarded-For, to which the proxy appended the address it saw
    first = [served.api_login(f"typo{i}@vanguard.test", forwarded_for="6.6.6.6, 203.0.113.9") for i in range(2)]
    locked = served.api_login("a@vanguard.test", forwarded_for=f"198.51.100.{len(first)}, 203.0.113.9")
    other = served.api_login("b@vanguard.test", forwarded_for="203.0.113.10")
    # then: the proxy's entry is the client; the client's own entry is ignored; another client is not locked
    assert (first, locked, other) == ([401, 401], 429, 401)
    addresses = set(LoginAttempt.objects.values_list("ip_address", flat=True))
    assert addresses == {"203.0.113.9", "203.0.113.10"}


@pytest.mark.django_db
def test_behind_a_trusted_proxy_its_x_forwarded_proto_is_believed(settings):
    # given
    settings.TRUSTED_PROXIES = [PEER]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    # when
    status = Served(TRUSTED_PROXIES=PEER).request("GET", "/admin/login/", headers={"x-forwarded-proto": "https"})[0]
    # then
    assert status == 200


# --- the same rule without uvicorn (tests, runserver): client_ip and ProxyHeadersMiddleware -------------------------


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded_for"),
    [
        ([], "127.0.0.1", "203.0.113.9"),
        (["127.0.0.1"], "127.0.0.1", "203.0.113.9"),
        (["127.0.0.1"], "127.0.0.1", "6.6.6.6, 203.0.113.9"),
        (["127.0.0.1"], "10.0.0.5", "203.0.113.9"),
        (["10.0.0.0/8"], "10.0.0.5", "6.6.6.6, 203.0.113.9, 10.1.1.1, 10.2.2.2"),
        (["10.0.0.0/8"], "10.0.0.5", "10.9.9.9, 10.1.1.1"),
        (["10.0.0.0/8"], "10.0.0.5", "203.0.113.9:4711"),
        (["10.0.0.0/8", "::1/128"], "::1", "[2001:db8::7]:443, 10.1.1.1"),
        (["10.0.0.0/8"], "10.0.0.5", ""),
    ],
)
def test_client_ip_agrees_with_uvicorns_proxy_headers_middleware(settings, trusted, peer, forwarded_for):
    # given
    from django.test import RequestFactory
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from vanguard.core.net import client_ip

    settings.TRUSTED_PROXIES = trusted
    seen = {}

    async def app(scope, receive, send):
        seen["client"] = scope["client"][0]

    scope = {"type": "http", "client": (peer, 1), "headers": [(b"x-forwarded-for", forwarded_for.encode())]}
    # when
    async_to_sync(ProxyHeadersMiddleware(app, trusted_hosts=trusted))(scope, None, None)
    ours = client_ip(RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded_for))
    # then
    assert ours == seen["client"]


def test_client_ip_never_returns_an_unreadable_entry(settings):
    # given: a trusted proxy that passed on garbage (a database column of addresses would refuse it)
    from django.test import RequestFactory

    from vanguard.core.net import client_ip

    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="unknown, 10.1.1.1")
    # then: the last hop known to be real
    assert client_ip(request) == "10.1.1.1"


@pytest.mark.django_db
@pytest.mark.parametrize(("peer", "expected"), [("10.0.0.1", 200), ("10.0.0.99", 301)])
def test_x_forwarded_proto_is_believed_only_from_a_trusted_proxy_without_uvicorn_too(client, settings, peer, expected):
    # given: settings as TRUSTED_PROXIES=10.0.0.1 makes them
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    # when
    response = client.get("/admin/login/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_PROTO="https")
    # then
    assert response.status_code == expected


def test_a_malformed_trusted_proxy_stops_start_up():
    # given
    import subprocess
    import sys

    from tests.ops.conftest import base_env

    # when
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO,
        env=base_env(TRUSTED_PROXIES="10.0.0.1/8"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # then
    assert result.returncode != 0 and "TRUSTED_PROXIES" in result.stderr
