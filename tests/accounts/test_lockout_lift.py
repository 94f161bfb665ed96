"""Lifting a sign-in lockout early (issue 9): a manager or superuser lifts it from the sign-in log, the person
signs in at once, and the lift is recorded with who lifted it; nobody else may."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests.admin_support import messages_of, post_action
from tests.factories import PASSWORD
from vanguard.accounts import lockout
from vanguard.api_support.models import LoginAttempt
from vanguard.core.errors import InvalidInput, NotPermitted

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:api_support_loginattempt_changelist")
LOGIN = reverse("admin:login")


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def lock_out(email: str, ip: str = "10.0.9.1") -> None:
    for _ in range(settings.LOGIN_FAILURE_LIMIT + 1):
        Client(REMOTE_ADDR=ip).post(LOGIN, {"username": email, "password": "Wrong-Password-1!"})
    assert lockout.locked_out(email, None) is not None


def signs_in(email: str, ip: str = "10.0.9.2") -> bool:
    response = Client(REMOTE_ADDR=ip).post(LOGIN, {"username": email, "password": PASSWORD, "next": "/admin/"})
    return response.status_code == 302


def test_a_manager_lifts_an_account_lockout_from_the_sign_in_log(client, manager, customer_service):
    # given: the clerk locked themselves out
    lock_out(customer_service.email)
    assert not signs_in(customer_service.email)
    client.force_login(manager)
    attempt = LoginAttempt.objects.filter(username=customer_service.email, outcome="locked_out").first()
    # when
    response = post_action(client, CHANGELIST, "lift_lockout", [attempt], follow=True)
    # then: lifted, said so without naming them, recorded with the manager, and the clerk signs in at once
    assert any("Lockout lifted for 1 account name" in m for m in messages_of(response))
    assert not any(customer_service.email in m for m in messages_of(response))
    lift = LoginAttempt.objects.get(outcome=LoginAttempt.Outcome.LIFTED)
    assert lift.lifted_by == manager and lift.username == customer_service.email and lift.locked_by == "account"
    assert signs_in(customer_service.email)


def test_an_address_lockout_is_lifted_for_the_address(manager):
    # given: an address locked by failures on many names
    ip = "10.0.8.8"
    for i in range(settings.LOGIN_IP_FAILURE_LIMIT):
        lockout.register_failure(f"nobody{i}@example.test", ip)
    assert lockout.locked_out("someone@example.test", ip).scope == "ip"
    # when
    lifted = lockout.lockout_lift(actor=manager, ip=ip)
    # then
    assert lifted == ["ip"] and lockout.locked_out("someone@example.test", ip) is None
    assert LoginAttempt.objects.get(outcome="lifted").ip_address == ip


def test_a_superuser_may_lift_and_an_adjuster_or_compliance_officer_may_not(superuser, adjuster, compliance_officer):
    # given
    lock_out("locked@example.test")
    # then
    for refused in (adjuster, compliance_officer):
        with pytest.raises(NotPermitted):
            lockout.lockout_lift(actor=refused, username="locked@example.test")
    assert lockout.locked_out("locked@example.test", None) is not None
    assert not LoginAttempt.objects.filter(outcome="lifted").exists()
    assert lockout.lockout_lift(actor=superuser, username="LOCKED@example.test\u200b") == ["account"]
    assert lockout.locked_out("locked@example.test", None) is None


def test_the_action_is_offered_to_managers_only(client, manager, compliance_officer):
    # given
    lock_out("locked@example.test")
    # when / then: the compliance officer reads the log without the action; the manager has it
    client.force_login(compliance_officer)
    assert "lift_lockout" not in client.get(CHANGELIST).content.decode()
    attempt = LoginAttempt.objects.first()
    post_action(client, CHANGELIST, "lift_lockout", [attempt])
    assert lockout.locked_out("locked@example.test", None) is not None
    client.force_login(manager)
    assert "lift_lockout" in client.get(CHANGELIST).content.decode()


def test_a_lift_needs_a_name_or_an_address(manager):
    with pytest.raises(InvalidInput):
        lockout.lockout_lift(actor=manager, username=" ", ip="")


def test_a_lift_is_only_ever_recorded_with_its_lifter():
    # then: the database refuses a lifter on a failure row
    from django.db import IntegrityError, transaction

    from tests import factories

    with pytest.raises(IntegrityError), transaction.atomic():
        LoginAttempt.objects.create(
            username="x@example.test", outcome="failed", interface="admin", lifted_by=factories.UserFactory()
        )
