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
