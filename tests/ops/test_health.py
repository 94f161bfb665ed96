"""Liveness and readiness: each dependency's check, its latency, 503 on failure and 200 again after."""

from __future__ import annotations

import asyncio
import pickle
import re

import orjson
import pytest
from asgiref.sync import async_to_sync
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django_cryptography.core.signing import FernetSigner
from django_cryptography.utils.crypto import FernetBytes

from tests import factories
from tests.ops.conftest import OPS_REDIS_URL, free_port


def _dead_redis_url(password: str = "") -> str:
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{free_port()}/0"


@pytest.mark.django_db
def test_liveness_touches_no_database(client, django_assert_num_queries):
    # when
    with django_assert_num_queries(0):
        response = client.get("/health")
    # then
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def _asgi_get(
    path: str,
    method: str = "GET",
    *,
    host: str = "127.0.0.1",
    scheme: str = "http",
    request_id: str | None = None,
    client_addr: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
    app=None,
) -> tuple[int, dict, bytes]:
    """One request to the ASGI `app` (the product's application by default), answered in full."""
    from vanguard.asgi import application

    app = app or application
    extra = headers or {}
    headers = [(b"host", host.encode())]
    if request_id is not None:
        headers.append((b"x-request-id", request_id.encode()))
    headers += [(name.lower().encode(), value.encode()) for name, value in extra.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": (client_addr, 5000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays connected; Django cancels this once it has answered

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body


@pytest.mark.django_db
def test_asgi_liveness_is_answered_before_django_and_the_rest_reaches_django(django_assert_num_queries):
    # when
    with django_assert_num_queries(0):
        alive = async_to_sync(_asgi_get)("/health")
        head = async_to_sync(_asgi_get)("/health", method="HEAD")
    api = async_to_sync(_asgi_get)("/api/customers")
    # then: liveness needs nothing; an API path still gets Django's answer (401 problem, request id)
    assert alive[0] == 200 and alive[2] == b'{"status":"ok"}' and alive[1]["content-type"] == "application/json"
    assert head[0] == 200 and head[2] == b""
    assert api[0] == 401 and "x-request-id" in api[1] and api[1]["content-type"] == "application/problem+json"


@pytest.mark.django_db
def test_readiness_reports_every_check_with_its_latency(client, settings, ops_redis):
    # given: a broker configured (this suite's Redis db) and one encrypted customer row
    settings.CELERY_BROKER_URL = OPS_REDIS_URL
    factories.CustomerFactory()
    # when
    response = client.get("/health/ready")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker", "encryption"}
    for result in body["checks"].values():
        assert result["ok"] is True
        assert isinstance(result["latency_ms"], float) and result["latency_ms"] >= 0
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_readiness_without_a_broker_says_tasks_run_in_process(client, settings):
    # given
    settings.CELERY_BROKER_URL = ""
    # when
    body = client.get("/health/ready").json()
    # then
    assert body["checks"]["broker"]["ok"] is True
    assert "in-process" in body["checks"]["broker"]["detail"]


@pytest.mark.django_db
def test_readiness_is_503_while_the_broker_is_unreachable_and_200_after(client, settings, ops_redis):
    # given: the broker URL points at a closed port, with a password that must not leak
    settings.CELERY_BROKER_URL = _dead_redis_url(password="brokerpass-XYZ")
    # when
    down = client.get("/health/ready")
    settings.CELERY_BROKER_URL = OPS_REDIS_URL
    up = client.get("/health/ready")
    # then
    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"
    assert down.json()["checks"]["broker"]["ok"] is False
    assert down.json()["checks"]["database"]["ok"] is True
    assert b"brokerpass-XYZ" not in down.content and b"127.0.0.1" not in down.content
    assert up.status_code == 200


@pytest.mark.django_db
def test_readiness_is_503_while_the_cache_is_unreachable_and_200_after(client, settings):
    # given: a Redis cache on a closed port
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _dead_redis_url(password="cachepass-XYZ"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    caches._settings = caches.settings = settings.CACHES  # settings override resets the handler; be explicit
    # when
    down = client.get("/health/ready")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": OPS_REDIS_URL}}
    up = client.get("/health/ready")
    # then
    assert down.status_code == 503 and down.json()["checks"]["cache"]["ok"] is False
    assert b"cachepass-XYZ" not in down.content
    assert up.status_code == 200 and up.json()["checks"]["cache"]["ok"] is True


@pytest.mark.django_db
def test_readiness_fails_loudly_when_the_key_cannot_read_stored_pii(client):
    # given: a customer whose phone was encrypted under another key (as after a botched key change)
    customer = factories.CustomerFactory()
    foreign = FernetBytes(key=b"k" * 32, signer=FernetSigner(key=b"another-secret-key")).encrypt(pickle.dumps("+4411"))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE customers_customer SET phone = %s WHERE id = %s", [foreign, customer.pk])
    # when
    response = client.get("/health/ready")
    # then
    assert response.status_code == 503
    assert response.json()["checks"]["encryption"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True


@pytest.mark.django_db
def test_probes_answer_over_plain_http_in_production_on_an_allowed_host_or_loopback(client, settings):
    # given: production host validation and HTTPS redirect
    settings.ALLOWED_HOSTS = ["vanguard.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    # when
    answers = {
        (path, host): client.get(path, HTTP_HOST=host).status_code
        for path in ("/health", "/health/ready")
        for host in ("vanguard.example.com", "127.0.0.1:8000")
    }
    other = client.get("/admin/login/", HTTP_HOST="vanguard.example.com")
    # then: probes are not redirected (a healthy instance must not look dead); the rest of the site is
    assert set(answers.values()) == {200}, answers
    assert other.status_code == 301


@pytest.mark.django_db
def test_probes_refuse_a_host_outside_allowed_hosts(client, settings):
    # given
    settings.ALLOWED_HOSTS = ["vanguard.example.com"]
    # when
    live = client.get("/health", HTTP_HOST="attacker.example")
    ready = client.get("/health/ready", HTTP_HOST="attacker.example")
    asgi = async_to_sync(_asgi_get)("/health", host="attacker.example")
    asgi_ready = async_to_sync(_asgi_get)("/health/ready", host="attacker.example")
    # then
    assert live.status_code == ready.status_code == asgi[0] == asgi_ready[0] == 400
    assert b"checks" not in ready.content
    assert live["X-Request-ID"] and asgi[1]["x-request-id"] and "x-content-type-options" in asgi[1]


# --- the same headers as every other response ----------------------------------------------------------------------

SECURITY_HEADERS = {
    "strict-transport-security",
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "x-frame-options",
    "content-security-policy",
    "permissions-policy",
}


def _security(headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items() if name.lower() in SECURITY_HEADERS}


@pytest.mark.django_db
@pytest.mark.parametrize("secure", [False, True])
def test_probes_carry_the_security_headers_of_an_ordinary_response(client, settings, secure):
    # given: HSTS on, as in production (sent over HTTPS only)
    settings.SECURE_HSTS_SECONDS = 3600
    ordinary = _security(client.get("/admin/login/", secure=secure).headers)
    # when
    probes = {
        "health": client.get("/health", secure=secure).headers,
        "ready": client.get("/health/ready", secure=secure).headers,
        "asgi health": async_to_sync(_asgi_get)("/health", scheme="https" if secure else "http")[1],
        "asgi ready": async_to_sync(_asgi_get)("/health/ready", scheme="https" if secure else "http")[1],
    }
    # then
    expected = SECURITY_HEADERS if secure else SECURITY_HEADERS - {"strict-transport-security"}
    assert set(ordinary) == expected
    for name, headers in probes.items():
        assert _security(headers) == ordinary, name


@pytest.mark.django_db
def test_probes_echo_a_valid_request_id_and_mint_one_otherwise(client):
    # when
    echoed = [
        client.get(path, HTTP_X_REQUEST_ID="probe-1").headers["X-Request-ID"] for path in ("/health", "/health/ready")
    ]
    echoed.append(async_to_sync(_asgi_get)("/health", request_id="probe-1")[1]["x-request-id"])
    minted = [
        client.get("/health", HTTP_X_REQUEST_ID="<script>").headers["X-Request-ID"],
        client.get("/health/ready").headers["X-Request-ID"],
        async_to_sync(_asgi_get)("/health")[1]["x-request-id"],
        async_to_sync(_asgi_get)("/health")[1]["x-request-id"],
        async_to_sync(_asgi_get)("/health", request_id="bad id")[1]["x-request-id"],
    ]
    # then
    assert echoed == ["probe-1"] * 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in minted), minted
    assert len(set(minted)) == len(minted)


# --- readiness details: staff and the configured networks only -----------------------------------------------------


@pytest.mark.django_db
def test_an_anonymous_caller_from_outside_the_detail_networks_learns_only_the_status(client, settings):
    # given
    settings.CELERY_BROKER_URL = ""
    outsider = Client(REMOTE_ADDR="203.0.113.5")
    # when
    up = outsider.get("/health/ready")
    settings.CELERY_BROKER_URL = _dead_redis_url()
    down = outsider.get("/health/ready")
    over_asgi = async_to_sync(_asgi_get)("/health/ready", client_addr="203.0.113.5")
    # then: no latency, no key id, no audit-chain state
    assert (up.status_code, up.json()) == (200, {"status": "ok"})
    assert (down.status_code, down.json()) == (503, {"status": "unavailable"})
    assert over_asgi[0] == 503 and orjson.loads(over_asgi[2]) == {"status": "unavailable"}


@pytest.mark.django_db
def test_signed_in_staff_see_the_details_from_anywhere(settings, adjuster):
    # given
    settings.CELERY_BROKER_URL = ""
    staff = Client(REMOTE_ADDR="203.0.113.5")
    staff.force_login(adjuster)
    not_staff = Client(REMOTE_ADDR="203.0.113.5")
    not_staff.force_login(factories.UserFactory(is_staff=False))
    forged = Client(REMOTE_ADDR="203.0.113.5")
    forged.cookies[settings.SESSION_COOKIE_NAME] = "not-a-session-key"
    # when
    body = staff.get("/health/ready").json()
    # then
    assert {"database", "cache", "broker", "encryption"} <= set(body["checks"])
    assert all(isinstance(check["latency_ms"], float) for check in body["checks"].values())
    assert "notes" in body
    assert not_staff.get("/health/ready").json() == {"status": "ok"}
    assert forged.get("/health/ready").json() == {"status": "ok"}


@pytest.mark.django_db
def test_the_detail_networks_come_from_settings_and_use_the_client_address_rule(settings):
    # given: the operators' network, and a proxy in front that is trusted
    settings.HEALTH_DETAIL_NETWORKS = ["198.51.100.0/24"]
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    # when
    monitoring = Client(REMOTE_ADDR="198.51.100.20").get("/health/ready").json()
    loopback = Client(REMOTE_ADDR="127.0.0.1").get("/health/ready").json()
    via_proxy = Client(REMOTE_ADDR="10.0.0.1").get("/health/ready", HTTP_X_FORWARDED_FOR="198.51.100.20").json()
    spoofed = Client(REMOTE_ADDR="203.0.113.5").get("/health/ready", HTTP_X_FORWARDED_FOR="198.51.100.20").json()
    # then
    assert "checks" in monitoring and "checks" in via_proxy
    assert "checks" not in loopback and "checks" not in spoofed
