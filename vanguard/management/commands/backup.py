"""``manage.py backup``: a pg_dump custom-format archive of the database into BACKUP_DIR (SPEC §8).

The archive is written to a temporary name and renamed when complete, so a failed run never leaves a truncated file
that looks like a backup. Only the newest BACKUP_KEEP archives are kept. The archive holds encrypted PII as stored:
restoring it needs the same SECRET_KEY / CRYPTOGRAPHY_KEY, which are deliberately not in it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from vanguard.management.pgenv import pg_environment, run_pg_tool

logger = logging.getLogger("vanguard.backup")

PREFIX = "vanguard-"
SUFFIX = ".dump"


def backups_in(directory: Path) -> list[Path]:
    """Complete archives in ``directory``, newest first (names sort by their UTC timestamp)."""
    return sorted(directory.glob(f"{PREFIX}*{SUFFIX}"), reverse=True)


class Command(BaseCommand):
    help = "Write a pg_dump custom-format archive into BACKUP_DIR and keep the newest BACKUP_KEEP."

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
        env = pg_environment(options["database"])
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S%fZ")
        target = directory / f"{PREFIX}{stamp}{SUFFIX}"
        partial = directory / f".{target.name}.partial"
        try:
            run_pg_tool(
                "pg_dump",
                ["--format=custom", "--no-owner", "--no-privileges", "--compress=6", f"--file={partial}"],
                env,
            )
            os.chmod(partial, 0o600)  # it holds (encrypted) personal data and password hashes
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        removed = [old for old in backups_in(directory)[keep:]]
        for old in removed:
            old.unlink()
        logger.info(
            "backup written", extra={"archive": target.name, "bytes": target.stat().st_size, "pruned": len(removed)}
        )
        self.stdout.write(self.style.SUCCESS(f"Backup written: {target} ({target.stat().st_size} bytes)"))
        if removed:
            self.stdout.write(f"Removed {len(removed)} older backup(s); keeping the newest {keep}.")
