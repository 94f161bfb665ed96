"""`manage.py rotate_encryption_key`: re-encrypt every encrypted field under the configured (new) key.

Give the new key in `CRYPTOGRAPHY_KEY` (and/or `SECRET_KEY`) with a new `ENCRYPTION_KEY_ID`, and the old
key in `CRYPTOGRAPHY_KEY_PREVIOUS` / `SECRET_KEY_FALLBACKS` or with `--old-key` (see compliance.keys).
Rows are rewritten in batches, each in its own transaction under row locks (a concurrent edit waits, it is
not overwritten with stale values), and stamped with the new key id, so an interrupted run is resumed by
running the command again. Each batch writes one audit entry (as the system actor). At the end every row
is decrypted with the new key alone; any row that does not decrypt fails the command.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from compliance import keys
from compliance.models import AuditEntry
from vanguard.tasks import as_system


class Command(BaseCommand):
    help = "Re-encrypt all encrypted fields under the configured key (ENCRYPTION_KEY_ID); resumable."

    def add_arguments(self, parser):
        parser.add_argument("--old-key", action="append", default=[], metavar="KEY",
                            help="A previous CRYPTOGRAPHY_KEY value (repeatable); adds to CRYPTOGRAPHY_KEY_PREVIOUS.")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--max-batches", type=int, default=None,
                            help="Stop after this many batches (resume later by running the command again).")
        parser.add_argument("--verify-only", action="store_true", help="Only check that every row decrypts.")

    def handle(self, *args, old_key: list[str], batch_size: int, max_batches: int | None, verify_only: bool,
               **options):
        target = settings.ENCRYPTION_KEY_ID
        if not target:
            raise CommandError("ENCRYPTION_KEY_ID is empty: name the new key generation (e.g. k2).")
        keys.install_key_fallbacks(extra_keys=old_key)
        with as_system():
            if not verify_only:
                done, complete = self._rotate(target, batch_size, max_batches)
                if not complete:
                    self.stdout.write(self.style.WARNING(
                        f"Stopped after {done} rows ({max_batches} batches); rows remain on an older key. "
                        "Run the command again to continue."
                    ))
                    return
                self.stdout.write(f"Re-encrypted {done} rows under key {target}.")
            self._verify(target, batch_size)

    def _rotate(self, target: str, batch_size: int, max_batches: int | None) -> tuple[int, bool]:
        done, batches = 0, 0
        for model, fields in keys.encrypted_models():
            names = [f.name for f in fields]
            ct = ContentType.objects.get_for_model(model)
            last = None
            while True:
                if max_batches is not None and batches >= max_batches:
                    remaining = model.objects.exclude(encryption_key_id=target).exists()
                    return done, not remaining
                pending = model.objects.exclude(encryption_key_id=target).order_by("pk")
                if last is not None:
                    pending = pending.filter(pk__gt=last)
                ids = list(pending.values_list("pk", flat=True)[:batch_size])
                if not ids:
                    break
                with transaction.atomic():
                    try:
                        rows = list(model.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
                    except keys.DECRYPT_ERRORS as exc:
                        raise CommandError(
                            f"{model._meta.label}: rows {ids[0]}..{ids[-1]} cannot be decrypted with the new key "
                            "or any previous key given (--old-key, CRYPTOGRAPHY_KEY_PREVIOUS, "
                            "SECRET_KEY_FALLBACKS). Nothing in this batch was changed."
                        ) from exc
                    previous_ids = sorted({row.encryption_key_id for row in rows})
                    for row in rows:
                        row.encryption_key_id = target
                    # Values are unchanged (re-encrypted only), so this is not a domain change: one audit
                    # entry per batch records the rotation instead of one per row.
                    model.objects.bulk_update(rows, [*names, "encryption_key_id"])
                    AuditEntry.objects.create(
                        content_type=ct,
                        object_pk=f"{ids[0]}..{ids[-1]}",
                        object_repr=f"Encryption key rotation of {len(rows)} {model._meta.verbose_name_plural}",
                        action=AuditEntry.Action.UPDATE,
                        changes={"encryption_key_id": [", ".join(previous_ids), target]},
                        additional_data={"key_rotation": {"to": target, "from": previous_ids, "rows": len(rows),
                                                          "first_pk": str(ids[0]), "last_pk": str(ids[-1])}},
                        cid=_cid(),
                    )
                done += len(rows)
                batches += 1
                last = ids[-1]
                self.stdout.write(f"  {model._meta.label}: {done} rows re-encrypted")
        return done, True

    def _verify(self, target: str, batch_size: int) -> None:
        fernet = keys.current_fernet()
        checked, failures = 0, []
        for model, fields in keys.encrypted_models():
            for batch in keys.raw_rows(model, fields, batch_size=batch_size):
                for pk, key_id, *values in batch:
                    checked += 1
                    try:
                        for raw in values:
                            keys.decrypt_strict(fernet, raw)
                    except keys.DECRYPT_ERRORS:
                        failures.append(f"{model._meta.label} {pk}: does not decrypt with key {target}")
                        continue
                    if key_id != target:
                        failures.append(f"{model._meta.label} {pk}: still marked {key_id!r}")
        if failures:
            for line in failures[:20]:
                self.stderr.write(line)
            raise CommandError(f"Verification failed: {len(failures)} of {checked} rows are not readable under "
                               f"key {target}. Rerun the rotation with the previous key.")
        self.stdout.write(self.style.SUCCESS(f"Verified: all {checked} rows decrypt with key {target}."))


def _cid() -> str | None:
    from auditlog.cid import get_cid

    return get_cid()
