"""``manage.py restore FILE``: put a ``manage.py backup`` archive back: the database (pg_restore) and the media files
(into MEDIA_ROOT).

The archive is checked against its manifest first (every member present, none extra, every SHA-256 right) and its
files are staged in a private directory inside MEDIA_ROOT; nothing is changed until that passes. The targets must be
empty (no tables in the ``public`` schema, no file in MEDIA_ROOT) unless ``--force`` is given, in which case the
objects in the archive are dropped and recreated (``--clean --if-exists``) and its files replace those of the same
name (other files stay). The database restore runs in a single transaction: it lands completely or not at all, and
the files are moved into MEDIA_ROOT only after it committed. Run ``manage.py migrate`` afterwards when the code is
newer than the archive.

A database-only ``.dump`` archive (written before backups included the media) is still restored, database only.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from vanguard.management.backup_archive import (
    STAGING_PREFIX,
    install_media,
    media_files,
    referenced_media,
    verify_and_stage,
)
from vanguard.management.commands.backup import LEGACY_SUFFIX
from vanguard.management.pgenv import pg_environment, run_pg_tool

logger = logging.getLogger("vanguard.backup")


def public_table_count(alias: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        return cursor.fetchone()[0]


class Command(BaseCommand):
    help = "Restore a backup archive (database and media files) into the configured, empty, database and MEDIA_ROOT."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The archive written by manage.py backup.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Restore into a non-empty database and MEDIA_ROOT, replacing what the archive holds.",
        )
        parser.add_argument("--database", default="default", help="Database alias (default: default).")

    def handle(self, *args, **options):
        archive = Path(options["file"])
        if not archive.is_file():
            raise CommandError(f"No such backup file: {archive}")
        alias = options["database"]
        env = pg_environment(alias)
        media_root = Path(settings.MEDIA_ROOT)
        legacy = archive.suffix == LEGACY_SUFFIX
        existing = public_table_count(alias)
        # Our own connection must not hold the database while pg_restore works on it.
        connections[alias].close()
        if existing and not options["force"]:
            raise CommandError(
                f"The database is not empty ({existing} tables). Restore into an empty database, or pass --force to "
                "replace its contents with the archive's."
            )
        if not legacy and next(media_files(media_root), None) is not None and not options["force"]:
            raise CommandError(
                f"MEDIA_ROOT ({media_root}) is not empty. Restore into an empty MEDIA_ROOT, or pass --force to "
                "replace the files the archive holds."
            )
        args = ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error"]
        if existing:
            args += ["--clean", "--if-exists"]
        if legacy:
            run_pg_tool("pg_restore", [*args, f"--dbname={env['PGDATABASE']}", str(archive)], env)
            logger.info("backup restored", extra={"archive": archive.name, "replaced": bool(existing), "legacy": True})
            self.stdout.write(
                self.style.SUCCESS(
                    f"Restored {archive.name} into database {env['PGDATABASE']} "
                    "(a database-only archive: no media files)."
                )
            )
            return
        created = not media_root.exists()
        media_root.mkdir(parents=True, exist_ok=True)
        # Staged inside MEDIA_ROOT (backups skip it), so moving a verified file into place is a rename on one file
        # system.
        staging = Path(tempfile.mkdtemp(dir=media_root, prefix=STAGING_PREFIX))
        installed = False
        try:
            verified = verify_and_stage(archive, staging)
            run_pg_tool("pg_restore", [*args, f"--dbname={env['PGDATABASE']}", str(verified.dump)], env)
            install_media(
                verified.media,
                media_root,
                file_mode=settings.FILE_UPLOAD_PERMISSIONS,
                directory_mode=settings.FILE_UPLOAD_DIRECTORY_PERMISSIONS,
            )
            installed = True
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if created and not installed:
                shutil.rmtree(media_root, ignore_errors=True)  # it did not exist: leave no trace of a refused archive
        missing = self._missing_files(alias, media_root)
        logger.info(
            "backup restored",
            extra={
                "archive": archive.name,
                "replaced": bool(existing),
                "media_files": len(verified.media),
                "media_missing": len(missing),
            },
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {archive.name} into database {env['PGDATABASE']} and {len(verified.media)} media "
                f"file(s) into {media_root}."
            )
        )
        if missing:
            self.stderr.write(
                self.style.WARNING(
                    f"{len(missing)} file(s) the restored database refers to are not in MEDIA_ROOT (the archive's "
                    f"manifest lists {len(verified.manifest['media']['referenced_missing'])} as already missing at "
                    "backup time)."
                )
            )

    @staticmethod
    def _missing_files(alias: str, media_root: Path) -> set[str]:
        try:
            referenced = referenced_media(alias)
        except DatabaseError:  # an archive older than the code's schema: migrate first, then nothing to compare yet
            return set()
        finally:
            connections[alias].close()
        return {name for name in referenced if not (media_root / name).is_file()}
