"""Login lockout and rate limits (SPEC §6), shared by /api/auth/login and /admin/login/."""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import Client

from tests.api_client import assert_problem
from tests.factories import PASSWORD
from vanguard.accounts.models import User
from vanguard.api_support.models import LoginAttempt

pytestmark = pytest.mark.django_db


def api_login(api_as, email, password, addr="10.0.0.1"):
    return api_as(None, remote_addr=addr).post("/api/auth/login", {"email": email, "password": password})


def admin_login(email, password, addr="10.0.0.1"):
    return Client(REMOTE_ADDR=addr).post("/admin/login/", {"username": email, "password": password})


def test_sixth_failed_api_login_is_429_with_retry_after_and_skips_the_password_check(api_as, adjuster):
    # given
    for _ in range(5):
        assert api_login(api_as, adjuster.email, "Wrong-Password-1!").status_code == 401
    # when
    with mock.patch.object(User, "check_password") as check:
        response = api_login(api_as, adjuster.email, PASSWORD)
    # then
    body = assert_problem(response, 429, "RATE_LIMITED")
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    assert "locked" in body["detail"].lower()
    check.assert_not_called()


def test_account_lock_applies_from_every_address_and_to_unknown_names(api_as):
    # given
    for i in range(5):
        api_login(api_as, "nobody@vanguard.test", "x", addr=f"10.0.1.{i}")
    # then
    assert_problem(api_login(api_as, "NOBODY@vanguard.test", "x", addr="10.0.2.1"), 429)


def test_lockout_is_shared_with_the_admin_login_page(api_as, adjuster):
    # given
    for _ in range(5):
        admin_login(adjuster.email, "Wrong-Password-1!")
    # when
    page = admin_login(adjuster.email, PASSWORD)
    api = api_login(api_as, adjuster.email, PASSWORD)
    # then
    assert page.status_code == 200
    assert b'id="login-lockout"' in page.content
    assert b"Too many failed sign-in attempts" in page.content
    assert "_auth_user_id" not in page.wsgi_request.session
    assert_problem(api, 429)


def test_admin_login_page_shows_the_lockout_on_the_sixth_attempt(adjuster):
    for _ in range(5):
        page = admin_login(adjuster.email, "Wrong-Password-1!")
        assert b"login-lockout" not in page.content
    assert b"login-lockout" in admin_login(adjuster.email, "Wrong-Password-1!").content


def test_a_successful_login_clears_the_account_counter(api_as, adjuster):
    # given
    for _ in range(4):
        api_login(api_as, adjuster.email, "Wrong-Password-1!")
    assert api_login(api_as, adjuster.email, PASSWORD).status_code == 200
    # when
    for _ in range(4):
        api_login(api_as, adjuster.email, "Wrong-Password-1!")
    # then
    assert api_login(api_as, adjuster.email, PASSWORD).status_code == 200


def test_twenty_failures_from_one_address_lock_the_address(api_as, adjuster, settings):
    # given
    settings.API_RATE_LIMIT_ANON = "1000/m"
    for i in range(20):
        api_login(api_as, f"typo{i}@vanguard.test", "x", addr="10.7.7.7")
    # then
    assert_problem(api_login(api_as, adjuster.email, PASSWORD, addr="10.7.7.7"), 429)
    assert api_login(api_as, adjuster.email, PASSWORD, addr="10.7.7.8").status_code == 200


def test_limits_come_from_settings(api_as, adjuster, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    api_login(api_as, adjuster.email, "bad")
    api_login(api_as, adjuster.email, "bad")
    assert_problem(api_login(api_as, adjuster.email, PASSWORD), 429)


def test_failed_and_locked_attempts_are_recorded(api_as, adjuster):
    # given
    for _ in range(6):
        api_login(api_as, adjuster.email, "Wrong-Password-1!", addr="10.3.3.3")
    # then
    attempts = LoginAttempt.objects.filter(username=adjuster.email)
    assert attempts.filter(outcome="failed").count() == 5
    locked = attempts.get(outcome="locked_out")
    assert (locked.locked_by, locked.interface, locked.ip_address) == ("account", "api", "10.3.3.3")


def test_compliance_officers_can_read_the_login_attempts_in_the_admin(client, compliance_officer, adjuster):
    # given
    admin_login("someone@vanguard.test", "bad")
    client.force_login(compliance_officer)
    # when
    response = client.get("/admin/api_support/loginattempt/")
    # then
    assert response.status_code == 200
    assert b"someone@vanguard.test" in response.content
    assert client.get("/admin/api_support/loginattempt/add/").status_code == 403


def test_authenticated_rate_limit_is_per_user_and_answers_429_with_retry_after(api_as, adjuster, manager, settings):
    # given
    settings.API_RATE_LIMIT_USER = "3/m"
    client = api_as(adjuster)
    statuses = [client.get("/api/auth/me").status_code for _ in range(4)]
    # then
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/auth/me")
    assert_problem(response, 429, "RATE_LIMITED")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert api_as(manager).get("/api/auth/me").status_code == 200


def test_every_api_response_tells_the_caller_its_rate_limit_quota(api_as, adjuster, settings):
    # given
    settings.API_RATE_LIMIT_USER = "3/m"
    client = api_as(adjuster)
    # when
    responses = [client.get("/api/auth/me") for _ in range(4)]
    # then
    assert [r["X-RateLimit-Limit"] for r in responses] == ["3"] * 4
    assert [r["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert all(1 <= int(r["X-RateLimit-Reset"]) <= 60 for r in responses)
    assert responses[-1].status_code == 429


def test_anonymous_rate_limit_is_per_address(api_as, settings):
    # given
    settings.API_RATE_LIMIT_ANON = "2/m"
    statuses = [api_as(None, remote_addr="10.5.5.5").get("/api/customers").status_code for _ in range(3)]
    # then
    assert statuses == [401, 401, 429]
    assert api_as(None, remote_addr="10.5.5.6").get("/api/customers").status_code == 401


class _Clock:
    """Stands in for the lockout module's `time`: the tests move it by hand."""

    def __init__(self, now: float):
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.mark.parametrize("backend", ["local-memory", "redis"])
def test_the_failure_window_slides_so_attempts_around_a_boundary_still_lock(api_as, adjuster, settings, backend):
    # given: one failure, then three 14 minutes later (four in the last 15 minutes)
    import os

    import redis

    from vanguard.accounts import lockout

    if backend == "redis":
        settings.REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
        redis.Redis.from_url(settings.REDIS_URL).delete(lockout._keys("account", adjuster.email)[0])
    clock = _Clock(1_800_000_000.0)
    with mock.patch.object(lockout, "time", clock):
        assert api_login(api_as, adjuster.email, "Wrong-Password-1!").status_code == 401
        clock.now += 14 * 60
        for _ in range(3):
            assert api_login(api_as, adjuster.email, "Wrong-Password-1!").status_code == 401
        # when: 15.5 minutes after the first failure (a window fixed at the first failure would have started
        # afresh and counted only these), two more: five in the last 15 minutes
        clock.now += 90
        tries = [api_login(api_as, adjuster.email, "Wrong-Password-1!") for _ in range(2)]
        after = api_login(api_as, adjuster.email, PASSWORD)
        # then: the fifth failure inside the sliding 15 minutes locks the account
        assert [t.status_code for t in tries] == [401, 401]
        assert_problem(after, 429, "RATE_LIMITED")
        # and once the cool-off has passed, the right password works again
        clock.now += 15 * 60 + 1
        assert api_login(api_as, adjuster.email, PASSWORD).status_code == 200


# --- X-Forwarded-For: believed only from TRUSTED_PROXIES (tests/ops/test_proxy_headers.py: behind uvicorn) ----------


def test_by_default_a_spoofed_forwarded_for_neither_escapes_the_address_lock_nor_reaches_the_records(api_as, settings):
    # given
    settings.LOGIN_IP_FAILURE_LIMIT, settings.API_RATE_LIMIT_ANON = 2, "1000/m"
    client = api_as(None, remote_addr="10.7.7.7")

    def login(email, forwarded_for):
        return client.post(
            "/api/auth/login", {"email": email, "password": "x"}, headers={"X-Forwarded-For": forwarded_for}
        )

    # when
    failures = [login(f"typo{i}@vanguard.test", f"198.51.100.{i}").status_code for i in range(2)]
    locked = login("other@vanguard.test", "203.0.113.1")
    # then
    assert failures == [401, 401]
    assert_problem(locked, 429)
    assert set(LoginAttempt.objects.values_list("ip_address", flat=True)) == {"10.7.7.7"}


def test_behind_a_trusted_proxy_the_address_lock_and_the_records_use_the_forwarded_client(api_as, adjuster, settings):
    # given: two proxy hops, both trusted; the client wrote a fake entry of its own on the left
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    settings.LOGIN_IP_FAILURE_LIMIT, settings.API_RATE_LIMIT_ANON = 2, "1000/m"
    via_proxy = api_as(None, remote_addr="10.0.0.1")

    def login(email, password, forwarded_for):
        return via_proxy.post(
            "/api/auth/login", {"email": email, "password": password}, headers={"X-Forwarded-For": forwarded_for}
        )

    # when
    for i in range(2):
        login(f"typo{i}@vanguard.test", "x", f"6.6.6.{i}, 203.0.113.9, 10.0.0.2")
    locked = login(adjuster.email, PASSWORD, "203.0.113.9, 10.0.0.2")
    other_client = login(adjuster.email, PASSWORD, "203.0.113.10, 10.0.0.2")
    # then: the first untrusted hop from the right is the client; another client behind the proxy is not locked
    assert_problem(locked, 429)
    assert other_client.status_code == 200
    assert set(LoginAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}


def test_a_forwarded_for_from_a_peer_that_is_not_a_trusted_proxy_is_ignored(api_as, settings):
    # given
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    # when
    api_as(None, remote_addr="10.0.0.99").post(
        "/api/auth/login", {"email": "x@vanguard.test", "password": "x"}, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    # then
    assert LoginAttempt.objects.get().ip_address == "10.0.0.99"


def test_the_admin_login_uses_the_same_address_rule(settings):
    # given
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    # when
    Client(REMOTE_ADDR="10.0.0.1").post(
        "/admin/login/", {"username": "x@vanguard.test", "password": "x"}, HTTP_X_FORWARDED_FOR="203.0.113.9"
    )
    Client(REMOTE_ADDR="10.0.0.50").post(
        "/admin/login/", {"username": "y@vanguard.test", "password": "x"}, HTTP_X_FORWARDED_FOR="203.0.113.9"
    )
    # then
    assert dict(LoginAttempt.objects.values_list("username", "ip_address")) == {
        "x@vanguard.test": "203.0.113.9",
        "y@vanguard.test": "10.0.0.50",
    }


def test_the_anonymous_rate_limit_counts_the_peer_unless_it_is_a_trusted_proxy(api_as, settings):
    # given
    settings.API_RATE_LIMIT_ANON = "2/m"
    direct = api_as(None, remote_addr="10.5.5.5")
    # when
    spoofed = [
        direct.get("/api/customers", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(3)
    ]
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    proxied = [
        api_as(None, remote_addr="10.0.0.1")
        .get("/api/customers", headers={"X-Forwarded-For": f"198.51.100.{i}"})
        .status_code
        for i in range(3)
    ]
    # then: the direct caller is one address; three clients behind the proxy are three
    assert spoofed == [401, 401, 429]
    assert proxied == [401, 401, 401]
