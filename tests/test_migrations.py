"""Migrations are complete: the models and the migration files agree."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_missing_migrations():
    # given
    out = io.StringIO()
    # when: --check exits non-zero (SystemExit) when a model change has no migration
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # pragma: no cover - the failure path
        pytest.fail(f"makemigrations --check found changes without a migration:\n{out.getvalue()}")
        raise AssertionError from exc
    # then
    assert "No changes detected" in out.getvalue()
