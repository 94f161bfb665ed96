"""``manage.py restore FILE``: restore a ``manage.py backup`` archive (pg_restore) into the configured database.

The target must be empty (no tables in the ``public`` schema) unless ``--force`` is given, in which case the objects
in the archive are dropped and recreated (``--clean --if-exists``). The restore runs in a single transaction: it lands
completely or not at all. Run ``manage.py migrate`` afterwards when the code is newer than the archive.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from vanguard.management.pgenv import pg_environment, run_pg_tool

logger = logging.getLogger("vanguard.backup")


def public_table_count(alias: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        return cursor.fetchone()[0]


class Command(BaseCommand):
    help = "Restore a backup archive into the configured (empty) database."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The archive written by manage.py backup.")
        parser.add_argument(
            "--force", action="store_true", help="Restore into a non-empty database, replacing what the archive holds."
        )
        parser.add_argument("--database", default="default", help="Database alias (default: default).")

    def handle(self, *args, **options):
        archive = Path(options["file"])
        if not archive.is_file():
            raise CommandError(f"No such backup file: {archive}")
        alias = options["database"]
        env = pg_environment(alias)
        existing = public_table_count(alias)
        # Our own connection must not hold the database while pg_restore works on it.
        connections[alias].close()
        if existing and not options["force"]:
            raise CommandError(
                f"The database is not empty ({existing} tables). Restore into an empty database, or pass --force to "
                "replace its contents with the archive's."
            )
        args = ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error"]
        if existing:
            args += ["--clean", "--if-exists"]
        run_pg_tool("pg_restore", [*args, f"--dbname={env['PGDATABASE']}", str(archive)], env)
        logger.info("backup restored", extra={"archive": archive.name, "replaced": bool(existing)})
        self.stdout.write(self.style.SUCCESS(f"Restored {archive.name} into database {env['PGDATABASE']}."))
