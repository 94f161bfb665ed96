"""Guards for library internals that had no test of their own (docs/architecture.md, "Library internals").

Each test fails when the internal it names changes shape, so an upgrade that breaks the patch is caught here.
"""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncClient

pytestmark = pytest.mark.django_db


def _access_user_ids(caplog) -> list[str | None]:
    return [record.user_id for record in caplog.records if record.name == "vanguard.access"]


def test_the_access_log_names_a_session_user_read_only_through_auser_over_asgi(superuser, caplog):
    # given: a signed-in session over ASGI, on a page that never reads request.user: only AuditContextMiddleware's
    # `await request.auser()` loads the user, which Django caches as `request._acached_user` (Django 5.2 internal)
    client = AsyncClient()
    async_to_sync(client.aforce_login)(superuser)
    # when
    with caplog.at_level(logging.INFO, logger="vanguard.access"):
        response = async_to_sync(client.get)("/no-such-page/")
    # then
    assert response.status_code == 404
    assert _access_user_ids(caplog) == [str(superuser.pk)]


def test_auditlogs_own_log_entry_table_is_never_created():
    # MIGRATION_MODULES = {"auditlog": None}: the swapped-out LogEntry's table would reference users and content
    # types and break TRUNCATE of the test database and `flush` (vanguard/settings.py).
    assert "auditlog_logentry" not in connection.introspection.table_names()
