"""/api/auth: login, refresh rotation, logout, me; bearer validation (SPEC §3, §6)."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.api_client import assert_problem
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def login(api_as, email, password=PASSWORD, addr="127.0.0.1"):
    return api_as(None, remote_addr=addr).post("/api/auth/login", {"email": email, "password": password})


def test_login_returns_a_token_pair_with_the_spec_claims(api_as, adjuster):
    # when
    response = login(api_as, adjuster.email)
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1800
    claims = jwt.decode(body["access_token"], settings.JWT_SIGNING_KEY, algorithms=["HS256"])
    assert claims["sub"] == str(adjuster.pk)
    assert claims["email"] == adjuster.email
    assert claims["type"] == "access"
    assert claims["exp"] - claims["iat"] == 30 * 60
    refresh = jwt.decode(body["refresh_token"], settings.JWT_SIGNING_KEY, algorithms=["HS256"])
    assert refresh["type"] == "refresh"
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600


def test_login_with_a_wrong_password_is_401(api_as, adjuster):
    # when
    response = login(api_as, adjuster.email, "Wrong-Password-1!")
    # then
    assert_problem(response, 401, "UNAUTHORIZED")


def test_login_of_an_inactive_user_is_401(api_as):
    # given
    user = UserFactory(is_active=False)
    # then
    assert_problem(login(api_as, user.email), 401)


def test_login_with_a_malformed_body_is_422(api_as):
    # when
    response = api_as(None).post("/api/auth/login", {"email": 5})
    # then
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert set(body["errors"]) == {"email", "password"}


def test_refresh_rotates_and_a_reused_refresh_token_is_401(api_as, adjuster):
    # given
    first = login(api_as, adjuster.email).json()
    client = api_as(None)
    # when
    rotated = client.post("/api/auth/refresh", {"refresh_token": first["refresh_token"]})
    reused = client.post("/api/auth/refresh", {"refresh_token": first["refresh_token"]})
    # then
    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != first["refresh_token"]
    assert_problem(reused, 401, "UNAUTHORIZED")
    assert client.post("/api/auth/refresh", {"refresh_token": rotated.json()["refresh_token"]}).status_code == 200


def test_refresh_with_an_access_token_is_401(api_as, adjuster):
    # given
    tokens = login(api_as, adjuster.email).json()
    # then
    assert_problem(api_as(None).post("/api/auth/refresh", {"refresh_token": tokens["access_token"]}), 401)


def test_logout_blacklists_the_refresh_token(api_as, adjuster):
    # given
    tokens = login(api_as, adjuster.email).json()
    client = api_as(adjuster, token=tokens["access_token"])
    # when
    response = client.post("/api/auth/logout", {"refresh_token": tokens["refresh_token"]})
    # then
    assert response.status_code == 204
    assert_problem(api_as(None).post("/api/auth/refresh", {"refresh_token": tokens["refresh_token"]}), 401)


def test_logout_with_someone_elses_refresh_token_is_401(api_as, adjuster, manager):
    # given
    theirs = login(api_as, manager.email).json()
    # then
    assert_problem(api_as(adjuster).post("/api/auth/logout", {"refresh_token": theirs["refresh_token"]}), 401)
    assert api_as(None).post("/api/auth/refresh", {"refresh_token": theirs["refresh_token"]}).status_code == 200


def test_me_describes_the_caller(api_as, adjuster):
    # when
    body = api_as(adjuster).get("/api/auth/me").json()
    # then
    assert body["email"] == adjuster.email
    assert body["groups"] == ["Claims adjuster"]
    assert "claims.decide_claim" in body["permissions"]
    assert body["authority_limit"] == "10000.00"


def _expired_access(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(from_time=token.current_time - dt.timedelta(hours=1))
    return str(token)


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda u: str(AccessToken.for_user(u))[:-2] + "xx", id="tampered-signature"),
        pytest.param(
            lambda u: jwt.encode(
                {"sub": str(u.pk), "type": "access", "exp": 9999999999, "jti": "x"},
                "not-the-key-" * 4,
                algorithm="HS256",
            ),
            id="wrong-key",
        ),
        pytest.param(_expired_access, id="expired"),
        pytest.param(lambda u: str(RefreshToken.for_user(u)), id="refresh-token-as-access"),
        pytest.param(
            lambda u: jwt.encode(
                {"sub": str(u.pk), "type": "access", "exp": 9999999999, "jti": "x"},
                settings.JWT_SIGNING_KEY,
                algorithm="HS384",
            ),
            id="wrong-algorithm",
        ),
        pytest.param(lambda u: "garbage", id="garbage"),
    ],
)
def test_bad_tokens_are_401_with_www_authenticate(api_as, adjuster, make_token):
    # when
    response = api_as(adjuster, token=make_token(adjuster)).get("/api/auth/me")
    # then
    assert_problem(response, 401, "UNAUTHORIZED")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_verified_once_is_not_verified_again_on_the_next_request(api_as, adjuster, monkeypatch):
    # given: a token this process has accepted
    from vanguard.accounts import auth

    token = str(AccessToken.for_user(adjuster))
    client = api_as(adjuster, token=token)
    assert client.get("/api/auth/me").status_code == 200
    decoded: list[str] = []
    real = auth.decode_access
    monkeypatch.setattr(auth, "decode_access", lambda raw: decoded.append(raw) or real(raw))
    # when
    again = client.get("/api/auth/me")
    # then: accepted without a second signature check; a token not seen before is checked
    assert again.status_code == 200 and decoded == []
    other = str(AccessToken.for_user(adjuster))
    assert api_as(adjuster, token=other).get("/api/auth/me").status_code == 200 and decoded == [other]


def test_a_remembered_token_is_refused_once_it_expires(api_as, adjuster, monkeypatch):
    # given: a token accepted a moment ago
    from vanguard.accounts import auth

    token = AccessToken.for_user(adjuster)
    client = api_as(adjuster, token=str(token))
    assert client.get("/api/auth/me").status_code == 200
    # when: its expiry passes (the clock moved past `exp`)
    monkeypatch.setattr(auth, "_now", lambda: float(token["exp"]))
    # then
    assert_problem(client.get("/api/auth/me"), 401, "UNAUTHORIZED")
    monkeypatch.setattr(auth, "_now", lambda: float(token["exp"]) - 1)
    assert client.get("/api/auth/me").status_code == 200


def test_a_refused_token_is_not_remembered(api_as, adjuster):
    # given
    from vanguard.accounts import auth

    expired = _expired_access(adjuster)
    remembered = auth._verified_access.cache_info().currsize
    # when: the same refused text twice
    first = api_as(adjuster, token=expired).get("/api/auth/me")
    second = api_as(adjuster, token=expired).get("/api/auth/me")
    # then: refused both times, and nothing kept for it
    assert_problem(first, 401)
    assert_problem(second, 401)
    assert auth._verified_access.cache_info().currsize == remembered


def test_a_token_of_a_deactivated_user_is_401(api_as, adjuster):
    # given
    client = api_as(adjuster)
    adjuster.is_active = False
    adjuster.save(update_fields=["is_active"])
    # then
    assert_problem(client.get("/api/auth/me"), 401)


def test_a_missing_token_is_401(api_as):
    response = api_as(None).get("/api/customers")
    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


# --- the cached principal ---------------------------------------------------------------------------------


def test_a_token_request_after_the_first_reads_the_principal_from_the_cache(
    api_as, customer_service, django_assert_num_queries
):
    # given: the first request loads the user and permissions from the database
    client = api_as(customer_service)
    assert client.get("/api/auth/me").status_code == 200
    # when / then: the next one needs no query at all
    with django_assert_num_queries(0):
        again = client.get("/api/auth/me")
    assert again.status_code == 200 and "customers.view_customer" in again.json()["permissions"]


def test_deactivating_a_user_ends_their_cached_access_at_once(api_as, customer_service):
    # given
    client = api_as(customer_service)
    assert client.get("/api/customers").status_code == 200
    # when
    customer_service.is_active = False
    customer_service.save(update_fields=["is_active"])
    # then
    assert_problem(client.get("/api/customers"), 401, "UNAUTHORIZED")


def test_leaving_a_role_or_a_role_losing_a_permission_applies_at_once(api_as, customer_service, underwriter):
    # given
    from django.contrib.auth.models import Group, Permission

    service, writer = api_as(customer_service), api_as(underwriter)
    assert service.get("/api/customers").status_code == 200
    assert writer.get("/api/policies").status_code == 200
    # when: the user leaves their group; the underwriters' group loses a permission
    customer_service.groups.clear()
    Group.objects.get(name="Underwriter").permissions.remove(
        Permission.objects.get(codename="view_policy", content_type__app_label="policies")
    )
    # then
    assert_problem(service.get("/api/customers"), 403, "FORBIDDEN")
    assert_problem(writer.get("/api/policies"), 403, "FORBIDDEN")


def test_a_renamed_group_is_reflected_in_me(api_as, adjuster):
    from django.contrib.auth.models import Group

    client = api_as(adjuster)
    assert "Claims adjuster" in client.get("/api/auth/me").json()["groups"]
    group = Group.objects.get(name="Claims adjuster")
    group.name = "Adjusters (north)"
    group.save()
    assert client.get("/api/auth/me").json()["groups"] == ["Adjusters (north)"]


def test_a_principal_cached_again_by_a_request_racing_the_change_is_dropped_at_commit(
    api_as, customer_service, django_capture_on_commit_callbacks
):
    # given: the principal cached while the user is active
    from asgiref.sync import async_to_sync

    from vanguard import kv
    from vanguard.accounts.auth import _dump_principal, load_user, principal_key

    client = api_as(customer_service)
    assert client.get("/api/customers").status_code == 200
    stale = _dump_principal(load_user(customer_service.pk))
    # when: the user is deactivated, and before that commits a concurrent request caches the old row again
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        customer_service.is_active = False
        customer_service.save(update_fields=["is_active"])
        async_to_sync(kv.aset)(principal_key(customer_service.pk), stale, ttl=300)
    for callback in callbacks:  # the commit
        callback()
    # then
    assert_problem(client.get("/api/customers"), 401, "UNAUTHORIZED")


# --- every way of deactivating or changing a user through the ORM ends the cached principal -----------------


def _deactivate_by_update(user):
    from vanguard.accounts.models import User

    User.objects.filter(pk=user.pk).update(is_active=False)


def _deactivate_by_bulk_update(user):
    from vanguard.accounts.models import User

    user.is_active = False
    User.objects.bulk_update([user], ["is_active"])


def _deactivate_through_the_group(user):
    from django.contrib.auth.models import Group

    Group.objects.get(name="Customer service").user_set.update(is_active=False)


def _unstaff_by_update(user):
    from vanguard.accounts.models import User

    User.objects.filter(email=user.email).update(is_staff=False)


def _deactivate_by_save(user):
    user.is_active = False
    user.save()


@pytest.mark.parametrize(
    "deactivate",
    [
        pytest.param(_deactivate_by_update, id="queryset-update"),
        pytest.param(_deactivate_by_bulk_update, id="bulk-update"),
        pytest.param(_deactivate_through_the_group, id="related-manager-update"),
        pytest.param(_unstaff_by_update, id="is-staff-off-by-update"),
        pytest.param(_deactivate_by_save, id="save"),
    ],
)
def test_a_deactivated_users_old_access_token_is_401_on_the_next_request(api_as, customer_service, deactivate):
    # given: the principal is cached by a first request
    client = api_as(customer_service)
    assert client.get("/api/customers").status_code == 200
    # when
    deactivate(customer_service)
    # then
    assert_problem(client.get("/api/customers"), 401, "UNAUTHORIZED")


def test_deactivating_in_the_admin_ends_the_cached_access_at_once(api_as, client, superuser, customer_service):
    # given
    from django.contrib.auth.models import Group
    from django.urls import reverse

    api = api_as(customer_service)
    assert api.get("/api/customers").status_code == 200
    client.force_login(superuser)
    # when: the change form is saved with "active" unticked
    response = client.post(
        reverse("admin:accounts_user_change", args=[customer_service.pk]),
        {
            "email": customer_service.email,
            "full_name": customer_service.full_name,
            "is_staff": "on",
            "groups": [str(Group.objects.get(name="Customer service").pk)],
            "authority_limit": "",
        },
    )
    # then
    assert response.status_code == 302, response.content[:2000]
    customer_service.refresh_from_db()
    assert not customer_service.is_active
    assert_problem(api.get("/api/customers"), 401, "UNAUTHORIZED")


def test_an_authority_limit_set_by_queryset_update_shows_at_once(api_as, adjuster):
    # given
    from decimal import Decimal

    from vanguard.accounts.models import User

    client = api_as(adjuster)
    assert client.get("/api/auth/me").json()["authority_limit"] == "10000.00"
    # when
    User.objects.filter(pk=adjuster.pk).update(authority_limit=Decimal("123.00"))
    # then
    assert client.get("/api/auth/me").json()["authority_limit"] == "123.00"


def test_a_principal_cached_again_while_an_update_commits_is_dropped_at_commit(
    api_as, customer_service, django_capture_on_commit_callbacks
):
    # given
    from asgiref.sync import async_to_sync

    from vanguard import kv
    from vanguard.accounts.auth import _dump_principal, load_user, principal_key
    from vanguard.accounts.models import User

    client = api_as(customer_service)
    assert client.get("/api/customers").status_code == 200
    stale = _dump_principal(load_user(customer_service.pk))
    # when: deactivated by update(), and a concurrent request caches the old row before the commit
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        User.objects.filter(pk=customer_service.pk).update(is_active=False)
        async_to_sync(kv.aset)(principal_key(customer_service.pk), stale, ttl=300)
    for callback in callbacks:  # the commit
        callback()
    # then
    assert_problem(client.get("/api/customers"), 401, "UNAUTHORIZED")


def test_an_update_matching_nobody_changes_nothing():
    from vanguard.accounts.models import User

    assert User.objects.filter(email="nobody@vanguard.test").update(is_active=False) == 0


# --- refresh tokens are not stored (issue 12, item 7) -------------------------------------------------------

_JWT_SHAPE = r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"


def _stored_text_values():
    """Every value of every text, JSON and binary column of every table of the database, as text."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea')"
        )
        columns = cursor.fetchall()
        for table, column in columns:
            cursor.execute(f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL')  # noqa: S608
            for (value,) in cursor.fetchall():
                yield f"{table}.{column}", value


def _verifies_as_a_token(candidate: str) -> bool:
    try:
        jwt.decode(candidate, settings.JWT_SIGNING_KEY, algorithms=["HS256"], options={"verify_exp": False})
    except jwt.PyJWTError:
        return False
    return True


def test_no_column_of_any_table_holds_a_token_after_login_refresh_and_logout(api_as, adjuster):
    # given: a login, a rotation, a logout, and a second session left open
    import re

    first = login(api_as, adjuster.email).json()
    rotated = api_as(None).post("/api/auth/refresh", {"refresh_token": first["refresh_token"]}).json()
    assert (
        api_as(adjuster, token=rotated["access_token"])
        .post("/api/auth/logout", {"refresh_token": rotated["refresh_token"]})
        .status_code
        == 204
    )
    open_session = login(api_as, adjuster.email).json()
    issued = [first, rotated, open_session]
    # when
    found = [
        (where, match)
        for where, value in _stored_text_values()
        for match in re.findall(_JWT_SHAPE, value)
        if _verifies_as_a_token(match)
    ]
    leaked = [
        (where, token_type)
        for where, value in _stored_text_values()
        for pair in issued
        for token_type in ("access_token", "refresh_token")
        if pair[token_type] in value
    ]
    # then
    assert found == [] and leaked == []


def test_the_revocation_record_keeps_the_jti_the_user_and_the_expiry_only(api_as, adjuster):
    # given
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    tokens = login(api_as, adjuster.email).json()
    claims = jwt.decode(tokens["refresh_token"], settings.JWT_SIGNING_KEY, algorithms=["HS256"])
    # when
    api_as(adjuster, token=tokens["access_token"]).post("/api/auth/logout", {"refresh_token": tokens["refresh_token"]})
    # then
    row = OutstandingToken.objects.get(jti=claims["jti"])
    assert (row.user_id, int(row.expires_at.timestamp()), row.token) == (adjuster.pk, claims["exp"], "")
    assert BlacklistedToken.objects.filter(token=row).exists()


def test_the_database_refuses_a_stored_token(adjuster):
    # given: a write that goes around the ORM's save()
    from django.db import IntegrityError, transaction
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    refresh = RefreshToken.for_user(adjuster)
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        OutstandingToken.objects.filter(jti=refresh["jti"]).update(token=str(refresh))


def test_logout_of_a_token_issued_elsewhere_records_it_without_the_token(api_as, adjuster):
    # given: a refresh token whose outstanding row is gone (blacklist() creates it again)
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    tokens = login(api_as, adjuster.email).json()
    jti = jwt.decode(tokens["refresh_token"], settings.JWT_SIGNING_KEY, algorithms=["HS256"])["jti"]
    OutstandingToken.objects.filter(jti=jti).delete()
    # when
    response = api_as(adjuster, token=tokens["access_token"]).post(
        "/api/auth/logout", {"refresh_token": tokens["refresh_token"]}
    )
    # then
    assert response.status_code == 204
    assert OutstandingToken.objects.get(jti=jti).token == ""
    assert_problem(api_as(None).post("/api/auth/refresh", {"refresh_token": tokens["refresh_token"]}), 401)


def test_the_hourly_flush_drops_expired_revocation_records_only(api_as, adjuster):
    # given
    from django.utils import timezone
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    from vanguard.accounts.tasks import flush_expired_tokens

    old = login(api_as, adjuster.email).json()
    api_as(None).post("/api/auth/refresh", {"refresh_token": old["refresh_token"]})
    live = login(api_as, adjuster.email).json()
    old_jti = jwt.decode(old["refresh_token"], settings.JWT_SIGNING_KEY, algorithms=["HS256"])["jti"]
    OutstandingToken.objects.filter(jti=old_jti).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    # when
    flush_expired_tokens.apply()
    # then
    assert not OutstandingToken.objects.filter(jti=old_jti).exists()
    assert not BlacklistedToken.objects.filter(token__jti=old_jti).exists()
    assert OutstandingToken.objects.count() == 2  # the rotated pair's refresh and the live session's
    assert api_as(None).post("/api/auth/refresh", {"refresh_token": live["refresh_token"]}).status_code == 200


# --- rules that only one path guarded (issue 12, item 8) ----------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"is_active": False}, id="deactivated"),
        pytest.param({"is_staff": False}, id="no-longer-staff"),
    ],
)
def test_a_refresh_token_of_a_user_who_lost_access_is_401(api_as, adjuster, change):
    # given: only the access token's path was tested; the refresh path checks the user on its own
    from vanguard.accounts.models import User

    tokens = login(api_as, adjuster.email).json()
    User.objects.filter(pk=adjuster.pk).update(**change)
    # when
    response = api_as(None).post("/api/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    # then
    assert_problem(response, 401, "UNAUTHORIZED")


def test_login_of_a_user_who_is_not_staff_is_401(api_as):
    # given: an active account without back-office access (only the inactive case was tested)
    user = UserFactory(is_staff=False)
    # then
    assert_problem(login(api_as, user.email), 401, "UNAUTHORIZED")


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_refreshes_with_one_token_give_one_new_pair(adjuster):
    # given
    import threading

    from django.db import connection

    from vanguard.accounts.auth import InvalidToken, tokens_issue, tokens_refresh

    refresh = tokens_issue(user=adjuster)["refresh_token"]
    barrier, results = threading.Barrier(2), []

    def run() -> None:
        try:
            barrier.wait()
            results.append(tokens_refresh(refresh_token=refresh))
        except Exception as exc:  # collected and asserted on below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # then: one rotation wins, the other is refused as a reuse (not an integrity error, which would be a 500)
    assert sorted(type(r).__name__ for r in results) == ["InvalidToken", "dict"], results
    assert any(isinstance(r, InvalidToken) for r in results)


def test_me_shows_the_authority_limit_as_money_however_it_was_configured(api_as, adjuster, settings):
    # An amount in a response is a string with two decimals (SPEC §2), also for a limit configured as "10000".
    from decimal import Decimal

    settings.AUTHORITY_LIMITS = {**settings.AUTHORITY_LIMITS, "Claims adjuster": Decimal("10000")}
    body = api_as(adjuster).get("/api/auth/me").json()
    assert body["authority_limit"] == "10000.00"
