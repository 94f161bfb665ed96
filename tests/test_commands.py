"""Operator commands other than seed: createsuperuser with the email login."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from vanguard.accounts.models import User

PASSWORD = "Ops-Password-2024!"


@pytest.mark.django_db
def test_createsuperuser_noinput_from_environment(monkeypatch):
    # given
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "Ops@Example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    # when
    call_command("createsuperuser", "--noinput", stdout=io.StringIO())
    # then
    user = User.objects.get(email="ops@example.com")
    assert user.is_superuser and user.is_staff and user.is_active
    assert authenticate(username="ops@example.com", password=PASSWORD) == user


@pytest.mark.django_db
def test_createsuperuser_noinput_requires_an_email(monkeypatch):
    # given
    monkeypatch.delenv("DJANGO_SUPERUSER_EMAIL", raising=False)
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    # when / then
    with pytest.raises(CommandError):
        call_command("createsuperuser", "--noinput", stdout=io.StringIO(), stderr=io.StringIO())
    assert not User.objects.filter(is_superuser=True).exists()


@pytest.mark.django_db
def test_createsuperuser_and_changepassword_are_audited_as_the_system_actor(monkeypatch):
    # given
    from unittest import mock

    from compliance.models import AuditEntry
    from vanguard.accounts.models import system_actor

    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "ops@example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    # when
    call_command("createsuperuser", "--noinput", stdout=io.StringIO())
    user = User.objects.get(email="ops@example.com")
    with mock.patch("getpass.getpass", return_value="An0ther-Str0ng-Passphrase!"):
        call_command("changepassword", "ops@example.com", stdout=io.StringIO())
    # then
    # In write order (unsealed entries have no seq yet: the sealer chains them after commit)
    created, changed = AuditEntry.objects.get_for_object(user).order_by("id")
    assert created.action == AuditEntry.Action.CREATE and changed.action == AuditEntry.Action.UPDATE
    assert created.actor == changed.actor == system_actor()
    assert created.cid.startswith("cmd-createsuperuser-") and changed.cid.startswith("cmd-changepassword-")
    assert "password" in changed.changes and "An0ther" not in str(changed.changes)
    user.refresh_from_db()
    assert user.check_password("An0ther-Str0ng-Passphrase!")
