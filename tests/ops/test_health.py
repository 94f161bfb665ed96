"""Liveness and readiness: each dependency's check, its latency, 503 on failure and 200 again after."""

from __future__ import annotations

import asyncio
import pickle

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import caches
from django.db import connection
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


async def _asgi_get(path: str, method: str = "GET") -> tuple[int, dict, bytes]:
    from vanguard.asgi import application

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays connected; Django cancels this once it has answered

    async def send(message):
        sent.append(message)

    await application(scope, receive, send)
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
def test_probes_answer_on_the_instance_address_over_plain_http_in_production(client, settings):
    # given: production host validation and HTTPS redirect; a probe addressed to the container's own IP
    settings.ALLOWED_HOSTS = ["vanguard.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    # when
    live = client.get("/health", HTTP_HOST="10.0.0.7:8000")
    ready = client.get("/health/ready", HTTP_HOST="10.0.0.7:8000")
    other = client.get("/admin/login/", HTTP_HOST="10.0.0.7:8000")
    # then
    assert live.status_code == 200
    assert ready.status_code == 200
    assert other.status_code == 400  # everything else still requires an allowed host
