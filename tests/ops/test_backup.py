"""`manage.py backup` and `manage.py restore`: a round trip into a fresh database loses nothing, PII still decrypts,
a non-empty target is refused without --force, old archives are pruned, the password never shows."""

from __future__ import annotations

import json
import subprocess
from unittest import mock

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from tests import factories
from tests.ops.conftest import base_env, manage
from vanguard.management.commands.backup import backups_in

TABLES_SQL = (
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
)
PII_DUMP = (
    "import json; from customers.models import Customer; "
    "print(json.dumps({str(c.pk): [c.phone, c.ssn, c.address, str(c.date_of_birth)] "
    "for c in Customer.objects.order_by('pk')}))"
)


def _server_url(database: str) -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{database}"


def _pii(env: dict[str, str]) -> dict[str, list[str]]:
    result = manage("shell", "-c", PII_DUMP, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = [row[0] for row in conn.execute(TABLES_SQL)]
        return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}  # noqa: S608


@pytest.fixture
def fresh_database():
    """An empty database on the same server, dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_restore"
    admin_url = _server_url("postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_into_a_fresh_database_loses_nothing(tmp_path, fresh_database):
    # given: customers with encrypted PII, policies, claims with documents, audit rows
    for _ in range(3):
        factories.ClaimDocumentFactory()
    factories.ClaimFactory(approved=True)
    source_url = _server_url(connection.settings_dict["NAME"])
    source_counts = _row_counts(source_url)
    source_env = base_env(DATABASE_URL=source_url, DB_POOL="false")
    source_pii = _pii(source_env)
    assert len(source_pii) >= 4 and all(values[0].startswith("+") for values in source_pii.values())
    # when
    call_command("backup", directory=str(tmp_path), stdout=mock.MagicMock())
    (archive,) = backups_in(tmp_path)
    target_env = base_env(DATABASE_URL=_server_url(fresh_database), DB_POOL="false")
    restored = manage("restore", str(archive), env=target_env)
    # then
    assert restored.returncode == 0, restored.stderr
    assert _row_counts(_server_url(fresh_database)) == source_counts
    assert _pii(target_env) == source_pii
    # ... and a second restore into the now non-empty database is refused without --force, accepted with it
    refused = manage("restore", str(archive), env=target_env)
    assert refused.returncode != 0 and "not empty" in refused.stderr
    forced = manage("restore", str(archive), "--force", env=target_env)
    assert forced.returncode == 0, forced.stderr
    assert _row_counts(_server_url(fresh_database)) == source_counts


@pytest.mark.django_db(transaction=True)
def test_backup_keeps_the_newest_archives_and_never_exposes_the_password(tmp_path, monkeypatch):
    # given: a password configured (the local server trusts the connection, so any value works)
    monkeypatch.setitem(connection.settings_dict, "PASSWORD", "pw-never-shown-4711")
    real_run = subprocess.run
    calls = []

    def spy(args, **kwargs):
        calls.append((args, kwargs.get("env") or {}))
        return real_run(args, **kwargs)

    out = mock.MagicMock()
    # when
    with mock.patch("vanguard.management.pgenv.subprocess.run", side_effect=spy):
        for _ in range(3):
            call_command("backup", directory=str(tmp_path), keep=2, stdout=out)
    # then
    archives = backups_in(tmp_path)
    assert len(archives) == 2
    assert not list(tmp_path.glob(".*partial"))
    assert all(oct(path.stat().st_mode)[-3:] == "600" for path in archives)
    assert all("pw-never-shown-4711" not in " ".join(args) for args, _ in calls)
    assert all(env.get("PGPASSWORD") == "pw-never-shown-4711" for _, env in calls)
    written = " ".join(str(call) for call in out.write.call_args_list)
    assert "pw-never-shown-4711" not in written


def test_restore_refuses_a_missing_file(tmp_path):
    # when
    result = manage("restore", str(tmp_path / "nope.dump"), env=base_env(DATABASE_URL=_server_url("postgres")))
    # then
    assert result.returncode != 0 and "No such backup file" in result.stderr
