"""`Idempotency-Key` on creating POSTs (SPEC §3).

The same key and the same body within 24 hours replays the first response (status and body) and
creates nothing; the same key with a different body is a 422. Keys are per user.

Only the created record's id and the status are kept, never the rendered body: a replay renders the record
again for the caller, through the same masking and PII access log as a GET, so no personal data sits in clear
in this table (it would escape encryption at rest, the access log and GDPR erasure). A first attempt that
failed (4xx) keeps nothing either: retrying it with the same key runs it again.

The record is claimed in the *same transaction* as the write (`run_once`), so two concurrent requests
with one key cannot both create: the second waits on the unique index, then sees the first's record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from vanguard.api_support.models import IdempotencyRecord
from vanguard.core.errors import InvalidInput

TTL = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 255
# At least one visible ASCII character: a key that is only whitespace is no key (clean_key strips it). Spelled as
# an ASCII range because `\\S` differs between regex engines (U+0085 is whitespace to Rust and Python, not to JS).
KEY_PATTERN = "[!-~]"


def idempotency_key_header() -> Any:
    """The optional Idempotency-Key header of a creating POST, validated (422) as it is documented."""
    from ninja import Header

    return Header(None, alias="Idempotency-Key", min_length=1, max_length=MAX_KEY_LENGTH, pattern=KEY_PATTERN)


class Replay(Exception):
    """The key was used before with this body: answer with the recorded response."""

    def __init__(self, record: IdempotencyRecord):
        super().__init__("replay")
        self.record = record


def request_hash(route: str, payload: Any) -> str:
    """Hash of the route and the parsed body (key order and number spelling do not matter)."""
    import orjson

    from vanguard.api_support.http import _default

    canonical = orjson.dumps(payload, default=_default, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(route.encode() + b"\n" + canonical).hexdigest()


def clean_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput("The Idempotency-Key header must be 1 to 255 characters.", field="Idempotency-Key")
    return key


def run_once(*, user, key: str | None, route: str, payload_hash: str, create: Callable[[], Any]) -> Any:
    """Call `create()` once per (user, key). Raises Replay when the key was already used with this body.

    Opens the transaction that holds both the key's record and `create()`'s write (the service's own atomic nests
    inside it), so the record and the record it points to commit together or not at all.
    """
    if key is None:
        return create()
    with transaction.atomic():
        record = IdempotencyRecord.objects.select_for_update().filter(user=user, key=key).first()
        if record is not None and record.created_at < timezone.now() - TTL:
            record.delete()  # an expired key starts afresh
            record = None
        if record is None:
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        user=user, key=key, route=route, request_hash=payload_hash
                    )
            except IntegrityError:
                # Another request claimed the key first and has committed: compare with its record.
                record = IdempotencyRecord.objects.select_for_update().get(user=user, key=key)
            else:
                obj = create()
                record.resource_id = obj.pk
                record.save(update_fields=["resource_id"])
                return obj
        if record.route != route or record.request_hash != payload_hash:
            raise InvalidInput(
                "This Idempotency-Key was already used with a different request.", field="Idempotency-Key"
            )
        raise Replay(record)


def remember(*, user, key: str | None, status: int) -> None:
    """Record the first response's status for later replays (the body is rendered again on replay)."""
    if key is None:
        return
    IdempotencyRecord.objects.filter(user=user, key=key, status_code=0).update(status_code=status)
