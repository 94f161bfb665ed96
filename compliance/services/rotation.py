"""Encryption key rotation (SPEC §7.4): re-encrypt every encrypted field under the configured (new) key.

`manage.py rotate_encryption_key` parses its arguments, calls these and prints; the procedure for operators is
in `compliance.keys`. Rows are rewritten in batches, each in its own transaction under row locks (a concurrent edit
waits, it is not overwritten with stale values), and stamped with the new key id, so an interrupted run is resumed
by running it again. Each batch writes one audit entry as the system actor. `encryption_key_verify` then reads
every row with the new key alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from compliance import keys
from compliance.models import AuditEntry
from vanguard.accounts.system import as_system

# Called after each batch with the model's label and the rows re-encrypted so far in the whole run.
Progress = Callable[[str, int], None]


class KeyRotationError(Exception):
    """The rotation cannot run or cannot go on; the batch in progress was rolled back."""


@dataclass(frozen=True)
class RotationResult:
    target: str
    rows: int  # re-encrypted by this run
    complete: bool  # False: stopped at `max_batches` with rows still on an older key


@dataclass(frozen=True)
class VerificationResult:
    target: str
    checked: int
    failures: list[str] = field(default_factory=list)  # one line per row, naming the row, never a value

    @property
    def ok(self) -> bool:
        return not self.failures


def encryption_target_key_id() -> str:
    """The key generation rows are moved to (`ENCRYPTION_KEY_ID`); `KeyRotationError` when it is not named."""
    target = settings.ENCRYPTION_KEY_ID
    if not target:
        raise KeyRotationError("ENCRYPTION_KEY_ID is empty: name the new key generation (e.g. k2).")
    return target


def encryption_key_rotate(
    *,
    old_keys: Iterable[str] = (),
    batch_size: int = 500,
    max_batches: int | None = None,
    progress: Progress | None = None,
) -> RotationResult:
    """Re-encrypt, model by model in pk order, every row not yet stamped with the target key id, reading old
    rows through the previous keys (`old_keys` and the settings, `compliance.keys.install_key_fallbacks`). Each
    batch: lock the rows (FOR UPDATE), rewrite their encrypted fields and key id (`bulk_update`: the values are
    unchanged, so this is not a domain change), and write one audit entry for the batch, as the system actor.
    Stops after `max_batches` (resumable). Raises `KeyRotationError` when a batch does not decrypt with any key
    given; that batch is left unchanged."""
    target = encryption_target_key_id()
    keys.install_key_fallbacks(extra_keys=old_keys)
    done, batches = 0, 0
    with as_system():
        for model, fields in keys.encrypted_models():
            names = [f.name for f in fields]
            ct = ContentType.objects.get_for_model(model)
            last = None
            while True:
                if max_batches is not None and batches >= max_batches:
                    remaining = model.objects.exclude(encryption_key_id=target).exists()
                    return RotationResult(target=target, rows=done, complete=not remaining)
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
                        raise KeyRotationError(
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
                        additional_data={
                            "key_rotation": {
                                "to": target,
                                "from": previous_ids,
                                "rows": len(rows),
                                "first_pk": str(ids[0]),
                                "last_pk": str(ids[-1]),
                            }
                        },
                        cid=_cid(),
                    )
                done += len(rows)
                batches += 1
                last = ids[-1]
                if progress:
                    progress(model._meta.label, done)
    return RotationResult(target=target, rows=done, complete=True)


def encryption_key_verify(*, batch_size: int = 500) -> VerificationResult:
    """Read every encrypted value of every row with the target key alone (no fallback) and check each row is
    stamped with its id. Writes nothing; the failures name rows, never values."""
    target = encryption_target_key_id()
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
    return VerificationResult(target=target, checked=checked, failures=failures)


def _cid() -> str | None:
    from auditlog.cid import get_cid

    return get_cid()
