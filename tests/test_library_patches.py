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


def _timestamptz_loader(adapters):
    from psycopg import adapters as default_adapters
    from psycopg.pq import Format

    return adapters.get_loader(default_adapters.types["timestamptz"].oid, Format.TEXT)


def test_timestamps_are_read_by_psycopgs_c_loader_and_come_back_as_djangos_would():
    # vanguard.core.pg_loaders: Django's own loader parses in Python; ours hands each value to psycopg's C one
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's loaders")
    import datetime as dt

    from django.db.backends.postgresql.psycopg_any import register_tzloader

    from vanguard.core.pg_loaders import UtcTimestamptzLoader

    literals = [
        "2024-02-29 23:59:59.999999+00",
        "2024-06-15 10:30:00+02",  # another offset: the same instant in UTC
        "1999-12-31 23:00:00-05:30",
        "0001-01-01 00:00:00+00",
        "9999-12-31 23:59:59.5+00",
    ]
    sql = "SELECT " + ", ".join(f"%s::timestamptz AS t{n}" for n in range(len(literals)))
    # when: a cursor Django makes (create_cursor keeps the connection's loader), and one with Django's loader
    with connection.cursor() as cursor:
        loader = _timestamptz_loader(cursor.cursor.adapters)
        cursor.execute(sql, literals)
        ours = cursor.fetchone()
    with connection.cursor() as cursor:
        register_tzloader(dt.UTC, cursor.cursor)
        cursor.execute(sql, literals)
        djangos = cursor.fetchone()
    # then
    assert loader is UtcTimestamptzLoader
    assert ours == djangos
    assert all(value.tzinfo is dt.UTC for value in ours)
    assert ours[1] == dt.datetime(2024, 6, 15, 8, 30, tzinfo=dt.UTC)


def test_a_model_read_goes_through_the_c_loader_and_keeps_microseconds_and_utc(superuser):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's loaders")
    import datetime as dt

    from tests import factories
    from vanguard.core.pg_loaders import UtcTimestamptzLoader

    # given a customer whose consent time has microseconds and was given in another offset
    given = dt.datetime(2024, 3, 31, 1, 59, 59, 123456, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    customer = factories.CustomerFactory(gdpr_consent_date=given)
    # when read back through the ORM
    read = type(customer).objects.values_list("gdpr_consent_date", flat=True).get(pk=customer.pk)
    # then the connection reads with the C loader, and the value is the same instant, in Django's UTC
    assert _timestamptz_loader(connection.connection.adapters) is UtcTimestamptzLoader
    assert read == given and read.tzinfo is dt.UTC and read.microsecond == 123456
