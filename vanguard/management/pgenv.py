"""Run PostgreSQL client tools (pg_dump, pg_restore, psql) against a configured database without exposing its
password: connection parameters travel in the child's environment (``PGHOST``, ``PGPASSWORD``, ...), never on the
command line (visible in ``ps``) or in any output."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from django.core.management.base import CommandError
from django.db import connections

from vanguard.logging import redact


def pg_environment(alias: str = "default", *, database: str | None = None) -> dict[str, str]:
    settings_dict = connections[alias].settings_dict
    if settings_dict["ENGINE"] != "django.db.backends.postgresql":
        raise CommandError("Backups need PostgreSQL (DATABASE_URL=postgres://...).")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    values = {
        "PGHOST": settings_dict.get("HOST") or "",
        "PGPORT": str(settings_dict.get("PORT") or ""),
        "PGUSER": settings_dict.get("USER") or "",
        "PGPASSWORD": settings_dict.get("PASSWORD") or "",
        "PGDATABASE": database or settings_dict.get("NAME") or "",
        "PGCONNECT_TIMEOUT": "10",
        "PGAPPNAME": "vanguard-backup",
    }
    sslmode = (settings_dict.get("OPTIONS") or {}).get("sslmode")
    if sslmode:
        values["PGSSLMODE"] = sslmode
    env.update({key: value for key, value in values.items() if value})
    return env


def run_pg_tool(tool: str, args: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    executable = shutil.which(tool)
    if executable is None:
        raise CommandError(f"{tool} not found on PATH: install the PostgreSQL client tools.")
    result = subprocess.run([executable, *args], env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        # The tools never print the password, but their messages can name hosts and users; keep them, redacted.
        raise CommandError(f"{tool} failed (exit {result.returncode}): {redact(result.stderr.strip())[-2000:]}")
    return result
