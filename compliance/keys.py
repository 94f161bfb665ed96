"""Encryption keys for PII at rest (SPEC §7.4): previous-key fallback, the canary check, rotation helpers.

How django-cryptography uses keys (verified in its source): each encrypted field holds a `FernetBytes`
built at import time, whose AES-256 key is PBKDF2-SHA256(`CRYPTOGRAPHY_KEY` or `SECRET_KEY`,
salt `CRYPTOGRAPHY_SALT`, 30 000 iterations) and whose HMAC-SHA256 signer key is the raw `SECRET_KEY`.
A ciphertext is ``0x80 | timestamp | iv | AES-CBC(pickle(value)) | HMAC``. Changing either setting
makes every stored value unreadable unless it is re-encrypted.

Rotation, for operators:
1. Set the new key in `CRYPTOGRAPHY_KEY` (and/or a new `SECRET_KEY`), a new `ENCRYPTION_KEY_ID` (e.g. ``k2``),
   and keep the old ones readable: `CRYPTOGRAPHY_KEY_PREVIOUS` = the old `CRYPTOGRAPHY_KEY` (when it was unset,
   the old `SECRET_KEY`), and the old `SECRET_KEY` in `SECRET_KEY_FALLBACKS` when `SECRET_KEY` changed.
   The app keeps working meanwhile: it writes with the new key and reads rows still on an old key through
   the previous keys (`install_key_fallbacks`, run at start-up).
2. Run `manage.py rotate_encryption_key` (resumable: rows carry `encryption_key_id`; a rerun continues with
   the rows not yet on the new id). It verifies every row decrypts with the new key alone at the end.
3. Remove the previous keys from the environment.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from django.apps import apps
from django.conf import settings
from django.core.signing import BadSignature
from django.db import connection
from django.utils.encoding import force_bytes
from django_cryptography.fields import EncryptedMixin
from django_cryptography.utils.crypto import FernetBytes, InvalidToken

DECRYPT_ERRORS = (
    BadSignature,
    InvalidToken,
    pickle.UnpicklingError,
    ValueError,
    EOFError,
    TypeError,
    KeyError,
    AttributeError,
    IndexError,
)


def derive_aes_key(raw: str | bytes) -> bytes:
    """The AES key django-cryptography derives from a CRYPTOGRAPHY_KEY (or SECRET_KEY) value."""
    salt = getattr(settings, "CRYPTOGRAPHY_SALT", "django-cryptography")
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=force_bytes(salt), iterations=30000)
    return kdf.derive(force_bytes(raw))


def fernet_for(*, aes_key: bytes, hmac_key: str | bytes) -> FernetBytes:
    from django_cryptography.core.signing import FernetSigner

    return FernetBytes(aes_key, FernetSigner(hmac_key))


def encrypted_models() -> list[tuple[type, list]]:
    """Every model with encrypted fields, with those fields."""
    found = []
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedMixin)]
        if fields:
            found.append((model, fields))
    return found


def current_fernet() -> FernetBytes:
    """What the app encrypts with now (the fields' own Fernet, before any fallback wrapper)."""
    for _, fields in encrypted_models():
        fernet = fields[0]._fernet
        return fernet.current if isinstance(fernet, RotatingFernet) else fernet
    return FernetBytes()


def previous_fernets(extra_keys: Iterable[str] = ()) -> list[FernetBytes]:
    """Fernets for the configured previous keys: every old AES key (CRYPTOGRAPHY_KEY_PREVIOUS, the
    SECRET_KEY_FALLBACKS since CRYPTOGRAPHY_KEY defaults to SECRET_KEY, and `extra_keys`) with every HMAC
    key (the current SECRET_KEY and its fallbacks)."""
    current = current_fernet()
    aes_raw = [*extra_keys]
    if getattr(settings, "CRYPTOGRAPHY_KEY_PREVIOUS", ""):
        aes_raw.append(settings.CRYPTOGRAPHY_KEY_PREVIOUS)
    fallbacks = list(getattr(settings, "SECRET_KEY_FALLBACKS", []) or [])
    aes_raw += fallbacks
    aes_keys = list(dict.fromkeys(derive_aes_key(raw) for raw in aes_raw if raw))
    aes_keys.append(current.key)
    hmac_keys = list(dict.fromkeys([force_bytes(settings.SECRET_KEY), *(force_bytes(k) for k in fallbacks)]))
    fernets = []
    for aes in dict.fromkeys(aes_keys):
        for hmac_key in hmac_keys:
            if aes == current.key and hmac_key == force_bytes(current.signer.key):
                continue
            fernets.append(fernet_for(aes_key=aes, hmac_key=hmac_key))
    return fernets


def _plausible(plaintext: bytes) -> bool:
    """A right HMAC key with a wrong AES key yields garbage: accept only a value that unpickles."""
    try:
        pickle.loads(plaintext)  # noqa: S301 - our own authenticated ciphertext
    except Exception:  # any failure means "not this key"
        return False
    return True


class RotatingFernet:
    """Encrypts with the current key; decrypts with it and, failing that, with each previous key."""

    def __init__(self, current: FernetBytes, previous: list[FernetBytes]):
        self.current = current
        self.previous = previous

    # django-cryptography reads these two attributes in places (e.g. `key` for the signer's default).
    @property
    def key(self):
        return self.current.key

    @property
    def signer(self):
        return self.current.signer

    def encrypt(self, data):
        return self.current.encrypt(data)

    def decrypt(self, data: bytes, ttl=None) -> bytes:
        try:
            plaintext = self.current.decrypt(data, ttl)
            if _plausible(plaintext):
                return plaintext
            error: Exception = InvalidToken()
        except DECRYPT_ERRORS as exc:
            error = exc
        for fernet in self.previous:
            try:
                plaintext = fernet.decrypt(data, ttl)
            except DECRYPT_ERRORS:
                continue
            if _plausible(plaintext):
                return plaintext
        raise error


def install_key_fallbacks(extra_keys: Iterable[str] = ()) -> int:
    """Let every encrypted field read values written under a previous key (see the module docstring).
    Returns the number of previous key combinations installed (0: nothing configured, nothing changed)."""
    previous = previous_fernets(extra_keys)
    if not previous:
        return 0
    for _, fields in encrypted_models():
        for field in fields:
            current = field._fernet.current if isinstance(field._fernet, RotatingFernet) else field._fernet
            field._fernet = RotatingFernet(current, previous)
    return len(previous)


def decrypt_strict(fernet: FernetBytes, raw: bytes | memoryview | None):
    """Decrypt one stored value with exactly this key (no fallback)."""
    if raw is None:
        return None
    return pickle.loads(fernet.decrypt(force_bytes(raw)))  # noqa: S301 - authenticated ciphertext


def raw_rows(model, fields, *, batch_size: int = 1000, after=None) -> Iterator[list[tuple]]:
    """Stored ciphertexts of `fields`, as (pk, key_id, *values) in pk order, in batches."""
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(model._meta.pk.column)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    key_id = connection.ops.quote_name("encryption_key_id")
    last = after
    while True:
        with connection.cursor() as cursor:
            if last is None:
                cursor.execute(
                    f"SELECT {pk}, {key_id}, {columns} FROM {table} ORDER BY {pk} LIMIT %s",  # noqa: S608
                    [batch_size],
                )
            else:
                cursor.execute(
                    f"SELECT {pk}, {key_id}, {columns} FROM {table} WHERE {pk} > %s ORDER BY {pk} LIMIT %s",  # noqa: S608
                    [last, batch_size],
                )
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def encryption_canary_check() -> tuple[bool, str]:
    """Can the configured keys read existing encrypted data? Decrypts the oldest and the newest customer
    rows (old data and fresh data) with the keys the app runs with, fallbacks included. Never raises;
    the message never contains a value. (ok, message) for the readiness check."""
    try:
        found = encrypted_models()
        if not found:
            return True, "no encrypted fields"
        model, fields = found[0]
        table = connection.ops.quote_name(model._meta.db_table)
        created = connection.ops.quote_name("created_at")
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        samples = []
        with connection.cursor() as cursor:
            for order in ("ASC", "DESC"):
                cursor.execute(f"SELECT {columns} FROM {table} ORDER BY {created} {order} LIMIT 1")  # noqa: S608
                row = cursor.fetchone()
                if row:
                    samples.append(row)
        if not samples:
            return True, "no encrypted data yet"
        for row in samples:
            for field, raw in zip(fields, row, strict=True):
                if raw is not None:
                    field._fernet.decrypt(force_bytes(raw))
        return True, f"configured key {settings.ENCRYPTION_KEY_ID} reads existing data"
    except DECRYPT_ERRORS:
        return False, (
            f"ENCRYPTION KEY MISMATCH: the configured key {settings.ENCRYPTION_KEY_ID} cannot decrypt existing "
            "customer data (wrong CRYPTOGRAPHY_KEY/SECRET_KEY, or a rotation without the previous key set)"
        )
    except Exception as exc:  # readiness must report, not crash
        return False, f"encryption canary could not run: {type(exc).__name__}"
