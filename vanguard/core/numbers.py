"""Server-generated reference numbers: a prefix and 8 upper-case hex digits (POL-1A2B3C4D)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import TypeVar

from django.db import IntegrityError, transaction

T = TypeVar("T")
ATTEMPTS = 5


def new_number(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4).upper()}"


def is_number(term: str, prefix: str) -> bool:
    """Whether `term` (as typed, any case) is a whole reference number with this prefix: a search for one can use
    the number's unique index instead of a text scan."""
    return re.fullmatch(rf"{re.escape(prefix)}-[0-9A-F]{{8}}", term.strip().upper()) is not None


def save_with_unique_number(obj: T, *, field: str, prefix: str, save: Callable[[T], None]) -> T:
    """Assign a fresh number and save; on the rare collision (unique violation on `field`) try again.

    Each attempt runs in a savepoint so a collision does not poison the caller's transaction.
    Other integrity errors propagate unchanged.
    """
    for attempt in range(ATTEMPTS):
        setattr(obj, field, new_number(prefix))
        try:
            with transaction.atomic():
                save(obj)
            return obj
        except IntegrityError as exc:
            if not _is_unique_violation_on(exc, field) or attempt == ATTEMPTS - 1:
                raise
            obj._state.adding = True
    raise AssertionError("unreachable")


def _is_unique_violation_on(exc: IntegrityError, field: str) -> bool:
    """A unique violation on `field`, not any integrity error whose text happens to name it (the number's
    format check constraint does too, and retrying that would only hide a bug)."""
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is not None:  # PostgreSQL (psycopg): SQLSTATE 23505 and the violated constraint's name
        constraint = getattr(getattr(cause, "diag", None), "constraint_name", None) or ""
        return sqlstate == "23505" and field in constraint
    message = str(exc)  # SQLite: "UNIQUE constraint failed: policies_policy.policy_number"
    return "UNIQUE" in message.upper() and field in message
