"""Secrets for development: generated once into a git-ignored file, never used in production.

Production reads ``SECRET_KEY``, ``JWT_SIGNING_KEY`` and ``PII_HASH_KEY`` from the environment and refuses
to start when one is missing or carries the development prefix (see ``settings.py``).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

DEV_PREFIX = "dev-insecure-"
KEY_NAMES = ("SECRET_KEY", "JWT_SIGNING_KEY", "PII_HASH_KEY")


def load_or_create_dev_keys(path: Path) -> dict[str, str]:
    """Return the development keys stored at ``path``, creating the file (mode 0600) on first use."""
    if path.exists():
        keys = json.loads(path.read_text())
        if all(keys.get(name) for name in KEY_NAMES):
            return keys
    keys = {name: DEV_PREFIX + secrets.token_urlsafe(48) for name in KEY_NAMES}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keys, fh)
    # Atomic rename: two processes starting together end up with one key set on disk.
    if path.exists():
        tmp.unlink()
        return json.loads(path.read_text())
    os.replace(tmp, path)
    return keys


def is_development_key(value: str | None) -> bool:
    return not value or value.startswith(DEV_PREFIX)
