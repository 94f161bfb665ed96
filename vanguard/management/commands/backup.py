"""``manage.py backup``: one archive in BACKUP_DIR holding the database (pg_dump custom format) and the media files
(MEDIA_ROOT: the claim documents), with a manifest of sizes and SHA-256 checksums (SPEC §8;
vanguard/management/backup_archive.py describes the layout).

The dump is taken from an exported snapshot, and the files the database refers to are listed from the same snapshot,
so the manifest says exactly which referenced documents were missing on disk. The archive is written to a temporary
name and renamed when complete, so a failed run never leaves a truncated file that looks like a backup. Only the
newest BACKUP_KEEP archives are kept. The archive holds encrypted PII as stored: restoring it needs the same
SECRET_KEY / CRYPTOGRAPHY_KEY, which are deliberately not in it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction
from django.utils import timezone

from vanguard.management.backup_archive import referenced_media, write_archive
from vanguard.management.pgenv import pg_environment, run_pg_tool

logger = logging.getLogger("vanguard.backup")

PREFIX = "vanguard-"
SUFFIX = ".tar"
LEGACY_SUFFIX = ".dump"  # database-only archives written before media were included; restore still reads them


def backups_in(directory: Path) -> list[Path]:
    """Complete archives in ``directory``, newest first (names sort by their UTC timestamp)."""
    found = [*directory.glob(f"{PREFIX}*{SUFFIX}"), *directory.glob(f"{PREFIX}*{LEGACY_SUFFIX}")]
    return sorted(found, key=lambda path: path.name.removesuffix(path.suffix), reverse=True)


def dump_database(alias: str, dump: Path) -> set[str]:
    """pg_dump the database into ``dump`` and return the media names it refers to, both read from one snapshot."""
    env = pg_environment(alias)
    connection = connections[alias]
    if connection.in_atomic_block:
        raise CommandError("backup must not run inside a transaction (it exports a snapshot of its own).")
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # The exporting transaction waits, idle, while pg_dump runs; the session default would end it after 60 s.
        cursor.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()
        referenced = referenced_media(alias)
        run_pg_tool(
            "pg_dump",
            [
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                "--compress=6",
                f"--snapshot={snapshot}",
                f"--file={dump}",
            ],
            env,
        )
    return referenced


class Command(BaseCommand):
    help = "Write one archive of the database and MEDIA_ROOT into BACKUP_DIR and keep the newest BACKUP_KEEP."

    def add_arguments(self, parser):
        parser.add_argument("--dir", dest="directory", help="Target directory (default: BACKUP_DIR).")
        parser.add_argument("--keep", type=int, help="Archives to keep (default: BACKUP_KEEP).")
        parser.add_argument("--database", default="default", help="Database alias (default: default).")

    def handle(self, *args, **options):
        directory = Path(options["directory"] or settings.BACKUP_DIR)
        keep = options["keep"] if options["keep"] is not None else settings.BACKUP_KEEP
        if keep < 1:
            raise CommandError("--keep must be at least 1.")
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        now = timezone.now()
        target = directory / f"{PREFIX}{now.strftime('%Y%m%dT%H%M%S%fZ')}{SUFFIX}"
        partial = directory / f".{target.name}.partial"
        media_root = Path(settings.MEDIA_ROOT)
        try:
            # The dump waits in a private directory beside the archive until it is copied in.
            with tempfile.TemporaryDirectory(dir=directory, prefix=".vanguard-backup-") as work:
                dump = Path(work) / "database.dump"
                referenced = dump_database(options["database"], dump)
                with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb"):
                    pass  # created 0600 before any byte of personal data lands in it
                manifest = write_archive(
                    partial,
                    dump=dump,
                    media_root=media_root,
                    referenced=referenced,
                    created_at=now.isoformat(),
                    skip=directory,
                )
            os.chmod(partial, 0o600)  # it holds (encrypted) personal data, password hashes and the documents
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        removed = list(backups_in(directory)[keep:])
        for old in removed:
            old.unlink()
        media = manifest["media"]
        missing = media["referenced_missing"]
        logger.info(
            "backup written",
            extra={
                "archive": target.name,
                "bytes": target.stat().st_size,
                "media_files": len(media["files"]),
                "media_missing": len(missing),
                "pruned": len(removed),
            },
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written: {target} ({target.stat().st_size} bytes; the database and "
                f"{len(media['files'])} media file(s), {media['bytes']} bytes)"
            )
        )
        if missing:
            self.stderr.write(
                self.style.WARNING(
                    f"{len(missing)} file(s) the database refers to were not in MEDIA_ROOT ({media_root}); "
                    "the manifest lists them under media.referenced_missing."
                )
            )
        if removed:
            self.stdout.write(f"Removed {len(removed)} older backup(s); keeping the newest {keep}.")
