"""Stored refresh tokens (issue 12, item 7): the migration wipes the ones stored before, none is stored again."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import connection
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from tests import factories
from vanguard.accounts import roles

pytestmark = pytest.mark.django_db

migration = importlib.import_module("vanguard.accounts.migrations.0002_outstanding_tokens_not_stored")


def test_the_migration_wipes_the_tokens_stored_before_it_and_keeps_what_revocation_needs():
    # given: the schema before the migration, with a token stored the way simplejwt used to store it
    user = factories.staff(roles.CLAIMS_ADJUSTER)
    refresh = RefreshToken.for_user(user)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks in front of ALTER TABLE
    with connection.schema_editor() as editor:
        migration.backward(apps, editor)
    OutstandingToken.objects.filter(jti=refresh["jti"]).update(token=str(refresh))
    assert OutstandingToken.objects.get(jti=refresh["jti"]).token == str(refresh)
    # when
    with connection.schema_editor() as editor:
        migration.forward(apps, editor)
    # then
    row = OutstandingToken.objects.get(jti=refresh["jti"])
    assert (row.token, row.user_id, int(row.expires_at.timestamp())) == ("", user.pk, refresh["exp"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_constraint WHERE conname = %s", [migration.CONSTRAINT])
        assert cursor.fetchone() == (1,)
