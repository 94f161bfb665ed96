"""An authenticated API request costs one Redis round trip: the user's rate-limit counter and their cached principal
travel in one script call (issue 13). Counted on the real Redis client, against the real server."""

from __future__ import annotations

import os

import pytest
import redis
import redis.asyncio.client as aclient

from tests.factories import CustomerFactory
from vanguard.accounts.auth import principal_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_round_trips(settings, monkeypatch):
    """Use the test Redis for the API's counters and principal cache, and count the round trips made to it."""
    settings.REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    calls: list[str] = []
    command, execute = aclient.Redis.execute_command, aclient.Pipeline.execute

    async def counted_command(self, *args, **options):
        if not isinstance(self, aclient.Pipeline):  # a pipeline queues its commands: its execute() is the trip
            calls.append(str(args[0]))
        return await command(self, *args, **options)

    async def counted_execute(self, *args, **kwargs):
        calls.append("pipeline")
        return await execute(self, *args, **kwargs)

    monkeypatch.setattr(aclient.Redis, "execute_command", counted_command)
    monkeypatch.setattr(aclient.Pipeline, "execute", counted_execute)
    yield calls
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


def test_a_request_with_a_cached_principal_makes_one_round_trip(api_as, customer_service, redis_round_trips):
    # given: the principal is cached by a first request
    api = api_as(customer_service)
    customer = CustomerFactory()
    assert api.get(f"/api/customers/{customer.pk}").status_code == 200
    assert redis.Redis.from_url(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")).exists(
        principal_key(customer_service.pk)
    )
    redis_round_trips.clear()
    # when
    response = api.get(f"/api/customers/{customer.pk}")
    # then
    assert response.status_code == 200
    assert redis_round_trips == ["EVALSHA"]
    assert response["X-RateLimit-Remaining"].isdigit()


def test_a_cache_miss_adds_only_the_write_of_the_principal(api_as, customer_service, redis_round_trips):
    api = api_as(customer_service)
    response = api.get("/api/auth/me")
    assert response.status_code == 200
    assert redis_round_trips == ["EVALSHA", "SET"]


def test_a_deactivated_users_token_is_401_and_counts_as_anonymous(
    api_as, customer_service, redis_round_trips, settings
):
    # given
    api = api_as(customer_service)
    customer_service.is_active = False
    customer_service.save()
    settings.API_RATE_LIMIT_ANON = "1/m"
    # then: the first is refused as unauthenticated, the second hits the address's anonymous limit
    assert api.get("/api/auth/me").status_code == 401
    assert api.get("/api/auth/me").status_code == 429


def test_a_server_that_lost_its_scripts_answers_after_one_more_trip_and_counts_right(
    api_as, customer_service, redis_round_trips, settings
):
    # given: a principal cached, then the server's script cache flushed (a restart or SCRIPT FLUSH)
    api = api_as(customer_service)
    assert api.get("/api/auth/me").status_code == 200
    server = redis.Redis.from_url(settings.REDIS_URL)
    server.script_flush()
    redis_round_trips.clear()
    # when
    first = api.get("/api/auth/me")
    second = api.get("/api/auth/me")
    # then: EVALSHA refused, EVAL ran (and cached) it; the next request is one trip again; the counter kept counting
    assert first.status_code == second.status_code == 200
    assert redis_round_trips == ["EVALSHA", "EVAL", "EVALSHA"]
    assert int(first["X-RateLimit-Remaining"]) - int(second["X-RateLimit-Remaining"]) == 1
    counters = [key for key in server.scan_iter("rl:user:*")]
    assert len(counters) == 1 and 0 < server.ttl(counters[0]) <= 61
