"""Staff logins: a look-alike of an account name (zero-width, full-width...) is the same name (issue 12, item 4)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from tests.api_client import Api
from tests.factories import PASSWORD
from vanguard.accounts import lockout
from vanguard.api_support.models import LoginAttempt

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def api_login(email, password, addr="10.0.0.1"):
    return Api(None, remote_addr=addr).post("/api/auth/login", {"email": email, "password": password})


def padded(email: str, i: int) -> str:
    forms = [email + "\u200b", "\u200b" + email.upper(), "\ufeff" + email, email + "\u2060", email + "\u00ad"]
    return forms[i % len(forms)]


def test_failures_with_look_alike_names_count_against_the_real_account(adjuster):
    # given: five failures, each with a differently padded form of the name, from five addresses
    for i in range(5):
        assert api_login(padded(adjuster.email, i), "Wrong-Password-1!", addr=f"10.0.3.{i}").status_code == 401
    # when
    response = api_login(adjuster.email, PASSWORD, addr="10.0.4.1")
    # then: the plain name is locked
    assert response.status_code == 429


def test_a_full_width_name_hits_the_same_lockout_as_the_admin_login(adjuster):
    # given
    full_width = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in adjuster.email)
    for _ in range(5):
        Client(REMOTE_ADDR="10.0.5.1").post("/admin/login/", {"username": full_width, "password": "Wrong-1!"})
    # when
    page = Client(REMOTE_ADDR="10.0.5.2").post("/admin/login/", {"username": adjuster.email, "password": PASSWORD})
    # then
    assert b"login-lockout" in page.content


def test_the_recorded_attempt_names_the_plain_account(adjuster):
    api_login(adjuster.email + "\u200b", "Wrong-Password-1!")
    assert list(LoginAttempt.objects.values_list("username", flat=True)) == [adjuster.email]


def test_a_padded_name_with_the_right_password_signs_in_as_the_account(adjuster):
    response = api_login("\u200b" + adjuster.email.upper() + "\u200b", PASSWORD)
    assert response.status_code == 200, response.content


def test_the_counter_key_is_the_same_for_look_alikes(adjuster):
    assert lockout._keys("account", lockout.normalise_username(adjuster.email + "\u200b")) == lockout._keys(
        "account", adjuster.email
    )
