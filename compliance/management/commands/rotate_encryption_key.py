"""`manage.py rotate_encryption_key`: re-encrypt every encrypted field under the configured (new) key.

Give the new key in `CRYPTOGRAPHY_KEY` (and/or `SECRET_KEY`) with a new `ENCRYPTION_KEY_ID`, and the old
key in `CRYPTOGRAPHY_KEY_PREVIOUS` / `SECRET_KEY_FALLBACKS` or with `--old-key` (see compliance.keys).
The work is `compliance.services.rotation`: batches in their own transactions under row locks, each stamped with
the new key id (an interrupted run is resumed by running the command again) and audited as the system actor. At
the end every row is decrypted with the new key alone; any row that does not decrypt fails the command.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from compliance.services import rotation


class Command(BaseCommand):
    help = "Re-encrypt all encrypted fields under the configured key (ENCRYPTION_KEY_ID); resumable."

    def add_arguments(self, parser):
        parser.add_argument(
            "--old-key",
            action="append",
            default=[],
            metavar="KEY",
            help="A previous CRYPTOGRAPHY_KEY value (repeatable); adds to CRYPTOGRAPHY_KEY_PREVIOUS.",
        )
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--max-batches",
            type=int,
            default=None,
            help="Stop after this many batches (resume later by running the command again).",
        )
        parser.add_argument("--verify-only", action="store_true", help="Only check that every row decrypts.")

    def handle(self, *args, old_key: list[str], batch_size: int, max_batches: int | None, verify_only: bool, **options):
        try:
            if not verify_only:
                result = rotation.encryption_key_rotate(
                    old_keys=old_key,
                    batch_size=batch_size,
                    max_batches=max_batches,
                    progress=lambda label, done: self.stdout.write(f"  {label}: {done} rows re-encrypted"),
                )
                if not result.complete:
                    self.stdout.write(
                        self.style.WARNING(
                            f"Stopped after {result.rows} rows ({max_batches} batches); rows remain on an older key. "
                            "Run the command again to continue."
                        )
                    )
                    return
                self.stdout.write(f"Re-encrypted {result.rows} rows under key {result.target}.")
            verification = rotation.encryption_key_verify(batch_size=batch_size)
        except rotation.KeyRotationError as exc:
            raise CommandError(str(exc)) from exc
        if not verification.ok:
            for line in verification.failures[:20]:
                self.stderr.write(line)
            raise CommandError(
                f"Verification failed: {len(verification.failures)} of {verification.checked} rows "
                f"are not readable under key {verification.target}. Rerun the rotation with the "
                "previous key."
            )
        self.stdout.write(
            self.style.SUCCESS(f"Verified: all {verification.checked} rows decrypt with key {verification.target}.")
        )
