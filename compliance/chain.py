"""The audit trail's hash chain (SPEC §7.1) and GDPR redaction that keeps it verifiable (§7.2).

Hash
    ``content_digest = SHA-256(canonical JSON of the entry's content)`` and
    ``entry_hash = HMAC-SHA256(AUDIT_CHAIN_KEY, prev_hash || content_digest)``, where ``prev_hash`` is the
    previous entry's ``entry_hash`` (64 zeros for the first) and ``seq`` numbers the entries 1, 2, 3...
    The content is everything an auditor relies on: sequence number, salt, content type (as
    ``app_label.model``, stable across databases), object pk/id, object representation, action, changes,
    change text, serialised data, additional data, actor id and e-mail, timestamp, correlation id, remote
    address and port. The HMAC key means a forger with write access to the table but not to the key cannot
    append or insert entries that verify. A sealed entry is hashed exactly as before deferred sealing
    existed, so tamper detection of every sealed entry is unchanged.

Sealing: written without the head, chained shortly after (issue 13)
    Entries used to be chained as they were inserted, under ``pg_advisory_xact_lock`` held until the writing
    transaction ended: every audited write in the cluster queued behind every other for the length of its
    transaction, a request's own work and its commit's WAL flush included.

    Two designs were weighed. (B) "Take the head in the last statement": Django has no pre-commit hook, so
    every outermost ``atomic`` would have to buffer its entries and insert them just before COMMIT; the lock
    would still be held across the COMMIT and its WAL flush, so writers still serialise, on fsync latency,
    and group commit cannot merge flushes that the lock keeps apart. (A) "Seal late", chosen: writers never
    take the head; entries are chained afterwards, in batches, by a sealer — as certificate-transparency logs
    merge submissions into the tree within a bounded merge delay.

    Writing. A new entry is inserted with ``seq`` NULL, ``prev_hash`` empty and, in ``entry_hash``, its
    *pending seal* ``HMAC(key, "pending:" || content_digest)`` over its content without a sequence number.
    The message format differs from a link's (a 72-character vs a 128-character message), so a pending seal
    can never pass for a link or the reverse. No lock, no read of the head: writers run in parallel.

    Sealing. `seal_pending` takes ``pg_advisory_xact_lock`` for one short transaction, reads the head, reads
    the committed unsealed entries in id order (``FOR UPDATE SKIP LOCKED``), checks each pending seal,
    gives the valid ones the next sequence numbers, links and hashes in one ``UPDATE`` per batch (restricted
    to rows still unsealed, and the count checked), and commits. The lock makes sealers take turns; the
    unique constraint on ``seq`` is the backstop against a fork. An entry whose pending seal does not match
    (altered before it was sealed, or inserted without the key) is never sealed: it stays unsealed, is logged
    by id and is reported by `verify_chain`. Ids come from a sequence at insert time, not at commit, so id 10
    may be sealed before id 9 commits; the chain's order is the seal order (``seq``), and each pass seals
    whatever is committed and unsealed, so the later committer is sealed by the next pass.

    Who seals, and when. All state is in PostgreSQL (rows and one advisory lock), so any number of app
    servers and Celery workers may write and seal at once; nothing in one process's memory matters to
    another. (1) After a transaction that wrote entries commits, the writing process tries to seal
    (``pg_try_advisory_xact_lock``: when another sealer holds the head it returns at once and never waits;
    its entries are sealed by that sealer's next pass or the next trigger). (2) Celery beat runs
    `compliance.tasks.seal_audit_chain` every ``AUDIT_SEAL_INTERVAL_SECONDS`` (5 s), which seals what a
    skipped or crashed process left. (3) The GDPR erasure seals before it redacts. A process killed between
    its commit and its seal loses nothing: the committed rows carry their pending seals and the next pass
    chains them.

    The bound. An entry should be sealed within milliseconds, at worst within the beat interval.
    `verify_chain` reports an unsealed entry younger than ``AUDIT_SEAL_BOUND_SECONDS`` (120 s) as *pending*
    (not a break) and an older one as an ``unsealed`` break: the sealer is not running, or something holds
    entries back. The age counts from the entry's ``timestamp``, taken in the writing transaction and part of
    the pending seal (it cannot be refreshed without the key); a transaction that writes audit entries and
    commits more than the bound later would be reported too (statement and idle-in-transaction timeouts keep
    the app's transactions far shorter).

    What a pending entry is protected by, honestly. Its content and timestamp: by the pending seal (altering
    any column is detected, exactly like a sealed entry's, since the seal covers the same canonical content
    but the sequence number, which it does not have yet). Its existence: not by the chain until it is sealed;
    deleting an unsealed entry before a sealer sees it leaves no trace. That window is the time between
    commit and the next seal (normally the same request's after-commit seal) and is of the same kind as
    today's unavoidable one: the newest sealed entries can be truncated undetected back to the last
    verified checkpoint. A sealer outage widens it, and shows as an ``unsealed`` break after the bound.

    Replay. A pending seal covers content, not position, so a verbatim copy of a genuine unsealed row (or one
    saved earlier and inserted again later) would carry a valid seal and be chained as a second entry. Every
    entry's salt is random, so a copy is the one row that shares a salt: a partial unique constraint refuses
    it at insert, the sealer refuses to chain it, and `verify_chain` reports it as ``inserted`` (the last two
    hold even if the constraint were dropped). Sealed entries cannot be replayed, as before: a copy would
    need its own sequence number and a link only the key can make.

    Modes. ``AUDIT_CHAIN_SEALING = "deferred"`` (the default on PostgreSQL) as above; ``"inline"`` (the
    default elsewhere: SQLite in development serialises writers anyway and has no advisory locks) seals each
    entry in its inserting transaction under the head lock, the former behaviour, kept on PostgreSQL only as
    the "before" of ``bench/chain_writers.py``. Both modes assign sequence numbers under the same lock, so
    they may even run side by side. ``AUDIT_SEAL_ON_COMMIT = False`` leaves sealing to beat alone;
    ``AUDIT_SEAL_IN_THREAD`` (on except in the test suite) runs the after-commit seal on a per-process sealer
    thread instead of the request's (`_wake_sealer`), which waits ``AUDIT_SEAL_DELAY_SECONDS`` (0.05 s) after a
    wake-up so that one pass chains the entries of every commit in that window.

GDPR redaction
    Erasure must remove the person's values from their audit history while the chain stays verifiable.
    Their values are matched as whole values or words only (`scrub`), so ids, numbers and choice values
    that merely contain a name ("business" for Ness, "pending" for Pen) stay intact; identifier separators
    (``_``, ``-``, ``.``) are boundaries, so ``Vexleigh_medical_note.pdf`` loses the name.
    `redact_entries` rewrites the affected entries' values (to ``"[erased]"``) and wipes their salt, then
    the caller appends one chained *redaction entry* whose ``additional_data["audit_redactions"]`` maps each
    rewritten entry's ``seq`` to ``{"original": <digest before>, "redacted": <digest after>}``.
    The verifier accepts an entry whose current digest does not match its hash only when a later, itself
    verified, redaction entry vouches for it: ``HMAC(prev_hash || original) == entry_hash`` (the original
    entry was genuine) and the current digest equals ``redacted`` (nothing changed since the redaction).
    Because the salt was random and is gone, the recorded original digest cannot be brute-forced back into
    a birth date or a name. Redacting is therefore the only change to a sealed entry that verifies, and
    every redaction is itself on the record. The erasure seals pending entries first (holding the head
    until it commits), so the entries it redacts have sequence numbers; one committed by another transaction
    after that and still unsealed is rewritten and given a new pending seal (it has no link to vouch for).

Verification
    `verify_chain` walks the entries in ``seq`` order in batches and reports the first entry that was
    altered (hash mismatch), inserted (a forged hash, a duplicate/out-of-order sequence number, or no seq
    and no valid pending seal) or deleted (a gap in the sequence, a broken link or a truncated tail behind
    the last checkpoint), then checks every unsealed entry: a pending seal that does not match its content
    is ``altered``, one older than the bound is ``unsealed``, the rest are counted as pending; last, an entry
    sharing its salt with an earlier one is an ``inserted`` copy.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connections, models, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
ERASED = "[erased]"
# An arbitrary constant naming "the audit chain head" among PostgreSQL advisory locks.
CHAIN_LOCK_KEY = 7_311_520_001
REDACTIONS_KEY = "audit_redactions"
JSON_FIELDS = ("changes", "serialized_data", "additional_data")


def chain_key() -> bytes:
    """AUDIT_CHAIN_KEY when set; otherwise a key derived from PII_HASH_KEY (never rotated casually either:
    it is the SSN blind-index key). SECRET_KEY is deliberately not used: it is rotated with the data keys."""
    explicit = getattr(settings, "AUDIT_CHAIN_KEY", "")
    if explicit:
        return explicit.encode()
    return hmac.new(settings.PII_HASH_KEY.encode(), b"vanguard-audit-chain-v1", hashlib.sha256).digest()


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(str(value)).compressed
    except ValueError:
        return str(value)


_content_type_keys: dict[int, str] = {}


def _content_type_key(content_type_id: int) -> str:
    key = _content_type_keys.get(content_type_id)
    if key is None:
        ct = ContentType.objects.get_for_id(content_type_id)
        key = _content_type_keys[content_type_id] = f"{ct.app_label}.{ct.model}"
    return key


def canonical(entry) -> bytes:
    """The entry's content as canonical JSON (sorted keys, no whitespace, UTF-8)."""
    ts = entry.timestamp
    if timezone.is_aware(ts):
        ts = ts.astimezone(dt.UTC)
    content = {
        "seq": entry.seq,
        "salt": entry.salt or "",
        "content_type": _content_type_key(entry.content_type_id),
        "object_pk": str(entry.object_pk),
        "object_id": entry.object_id,
        "object_repr": entry.object_repr or "",
        "action": int(entry.action),
        "changes": entry.changes,
        "changes_text": entry.changes_text or "",
        "serialized_data": entry.serialized_data,
        "additional_data": entry.additional_data,
        "actor_id": str(entry.actor_id) if entry.actor_id else None,
        "actor_email": entry.actor_email or None,
        "timestamp": ts.isoformat(),
        "cid": entry.cid or None,
        "remote_addr": _ip(entry.remote_addr),
        "remote_port": entry.remote_port,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_digest(entry) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def link_hash(prev_hash: str, digest: str) -> str:
    return hmac.new(chain_key(), f"{prev_hash}{digest}".encode(), hashlib.sha256).hexdigest()


def pending_seal(entry) -> str:
    """The seal an unsealed entry carries in `entry_hash`: an HMAC of its content (``seq`` still None).
    The message ("pending:" + 64 hex digits) can never equal a link's (128 hex digits)."""
    return pending_seal_of(content_digest(entry))


def pending_seal_of(digest: str) -> str:
    """`pending_seal` for a content digest already computed."""
    return hmac.new(chain_key(), f"pending:{digest}".encode(), hashlib.sha256).hexdigest()


def _normalise_json(entry) -> None:
    """Round-trip JSON values through their encoder, so the hashed form is exactly what the database
    returns later (Decimals, dates and tuples become strings and lists before hashing, not after)."""
    for name in JSON_FIELDS:
        value = getattr(entry, name)
        if value is not None:
            encoder = type(entry)._meta.get_field(name).encoder
            setattr(entry, name, json.loads(json.dumps(value, cls=encoder)))


def sealing_mode(using: str = "default") -> str:
    """ "deferred" or "inline" (see the module docstring); inline wherever there is no advisory lock."""
    if connections[using].vendor != "postgresql":
        return "inline"
    mode = getattr(settings, "AUDIT_CHAIN_SEALING", "deferred")
    if mode not in {"deferred", "inline"}:
        raise ValueError(f"AUDIT_CHAIN_SEALING must be 'deferred' or 'inline', not {mode!r}")
    return mode


def seal_bound() -> dt.timedelta:
    return dt.timedelta(seconds=getattr(settings, "AUDIT_SEAL_BOUND_SECONDS", 120))


def _lock_head(using: str, *, wait: bool = True) -> bool:
    connection = connections[using]
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def _head(model, using: str) -> tuple[int, str]:
    head = (
        model.objects.using(using).filter(seq__isnull=False).order_by("-seq").values_list("seq", "entry_hash").first()
    )
    return head if head else (0, GENESIS)


def prepare(entry, *, using: str) -> None:
    """Stamp a new entry as it is inserted (AuditEntry._save_table, inside the inserting transaction):
    normalise its content, then either give it its pending seal and have it sealed after commit (deferred),
    or seal it now under the head lock held until the transaction ends (inline)."""
    connection = connections[using]
    if not connection.in_atomic_block:
        raise RuntimeError("An audit entry must be written inside a transaction.")
    model = type(entry)
    if not entry.salt:
        entry.salt = model._meta.get_field("salt").get_default()
    entry.remote_addr = _ip(entry.remote_addr)
    _normalise_json(entry)
    if sealing_mode(using) == "inline":
        _lock_head(using)
        last_seq, last_hash = _head(model, using)
        entry.seq, entry.prev_hash = last_seq + 1, last_hash
        entry.entry_hash = link_hash(entry.prev_hash, content_digest(entry))
        return
    entry.seq, entry.prev_hash = None, ""
    entry.entry_hash = pending_seal(entry)
    if getattr(settings, "AUDIT_SEAL_ON_COMMIT", True):
        _seal_after_commit(using)


def _seal_after_commit(using: str) -> None:
    connection = connections[using]
    callback = _AFTER_COMMIT.setdefault(using, functools.partial(_seal_quietly, using))
    # One callback per transaction, however many entries it writes. Relies on Django's internal
    # `run_on_commit` list of (savepoint ids, callable, robust) tuples (Django 4.2+); a callback registered in
    # a savepoint that rolled back has left the list with it, so its successor registers again.
    if any(item[1] is callback for item in connection.run_on_commit):
        return
    transaction.on_commit(callback, using=using)


def _seal_quietly(using: str) -> None:
    if getattr(settings, "AUDIT_SEAL_IN_THREAD", False):
        _wake_sealer(using)
        return
    try:
        seal_pending(using=using, wait=False)
    except Exception as exc:  # the write has committed; the scheduled sealer seals it instead
        logger.warning("audit sealing after commit failed (%s); the scheduled sealer will seal", type(exc).__name__)


# The after-commit seal off the request's thread (AUDIT_SEAL_IN_THREAD): Django runs a worker's sync code on one
# thread, so a seal there (a transaction of its own, with its commit) delays every other request of the worker.
# One daemon thread per process and database is woken instead; it seals everything committed so far, waiting
# for the head if another sealer holds it. It is only a trigger: the state is in PostgreSQL, a lost wake-up (the
# process died) is sealed by beat within AUDIT_SEAL_INTERVAL_SECONDS, and a thread started before a fork is
# not alive in the child, which starts its own.
_sealer_events: dict[str, threading.Event] = {}
_sealer_threads: dict[str, threading.Thread] = {}
_sealer_start = threading.Lock()


def _wake_sealer(using: str) -> None:
    thread = _sealer_threads.get(using)
    if thread is None or not thread.is_alive():
        with _sealer_start:
            thread = _sealer_threads.get(using)
            if thread is None or not thread.is_alive():
                event = _sealer_events[using] = threading.Event()
                thread = threading.Thread(
                    target=_sealer_loop, args=(using, event), daemon=True, name=f"audit-sealer-{using}"
                )
                _sealer_threads[using] = thread
                thread.start()
    _sealer_events[using].set()


def _sealer_loop(using: str, event: threading.Event) -> None:
    while True:
        event.wait()
        # Let the commits of the next few milliseconds join this pass: a pass costs a transaction of about seven
        # statements whatever it seals, and under load one per committing request was a measurable part of
        # every write's CPU (issue 13: a claim creation's worker + PostgreSQL CPU about 6% lower with 0.05 s).
        # A wake-up during the wait is absorbed by the clear below; one after it starts the next pass.
        time.sleep(getattr(settings, "AUDIT_SEAL_DELAY_SECONDS", 0))
        event.clear()
        try:
            seal_pending(using=using, wait=True)
        except Exception as exc:  # beat seals what this pass could not
            logger.warning("audit sealing after commit failed (%s); the scheduled sealer will seal", type(exc).__name__)
        finally:
            connections[using].close()  # back to the pool; a broken connection is not reused


# Per database alias, the bound callable registered on commit (a constant, so it can be recognised).
_AFTER_COMMIT: dict[str, functools.partial] = {}


def _copies(batch: list, using: str) -> set[int]:
    """Ids in `batch` whose salt another, earlier row already carries: a replayed copy of a genuine entry
    (the unique constraint on the salt refuses one; this holds even if the constraint were dropped)."""
    from compliance.models import AuditEntry

    salts = {entry.salt for entry in batch if entry.salt}
    first: dict[str, int] = {}
    for salt, pk in AuditEntry.objects.using(using).filter(salt__in=salts).order_by("pk").values_list("salt", "pk"):
        first.setdefault(salt, pk)
    return {entry.pk for entry in batch if entry.salt and first.get(entry.salt, entry.pk) != entry.pk}


def _write_links(model, chained: list, using: str) -> int:
    """Give the batch its sequence numbers, links and hashes in one UPDATE of the rows still unsealed; the
    number of rows updated. On PostgreSQL an ``UPDATE ... FROM (VALUES ...)``: Django's ``bulk_update`` builds
    three ``CASE WHEN`` expressions of a branch per row, and compiling them cost a fifth of a claim creation's
    CPU (py-spy, issue 13), more than the statement itself."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        unsealed = model.objects.using(using).filter(seq__isnull=True)
        return unsealed.bulk_update(chained, ["seq", "prev_hash", "entry_hash"])
    table = connection.ops.quote_name(model._meta.db_table)
    rows = ", ".join(["(%s::bigint, %s::bigint, %s, %s)"] * len(chained))
    params = [value for entry in chained for value in (entry.pk, entry.seq, entry.prev_hash, entry.entry_hash)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS entry SET seq = v.seq, prev_hash = v.prev_hash, entry_hash = v.entry_hash "  # noqa: S608 (the table name is the model's, every value a parameter)
            f"FROM (VALUES {rows}) AS v(id, seq, prev_hash, entry_hash) WHERE entry.id = v.id AND entry.seq IS NULL",
            params,
        )
        return cursor.rowcount


@dataclass
class SealResult:
    sealed: list[int] = field(default_factory=list)  # ids, in the order they were chained
    refused: list[int] = field(default_factory=list)  # ids not chained: seal does not match, or a copy
    locked: bool = True  # False: another sealer held the head (wait=False) and nothing was done
    head_seq: int = 0


def seal_pending(*, using: str = "default", wait: bool = True, batch_size: int = 1000) -> SealResult:
    """Chain every committed unsealed entry (see "Sealing" in the module docstring).

    Takes the head lock for one short transaction (with ``wait=False`` it returns at once, ``locked``
    False, when another sealer holds it). Inside a caller's transaction the lock is held until that
    transaction ends and the entries it wrote itself are sealed too. Entries whose pending seal does not
    match, and copies of another row, are left unsealed, reported in ``refused`` and logged by id."""
    from compliance.models import AuditEntry

    result = SealResult()
    with transaction.atomic(using=using):
        if not _lock_head(using, wait=wait):
            result.locked = False
            return result
        last_seq, last_hash = _head(AuditEntry, using)
        after = 0
        while True:
            batch = list(
                AuditEntry.objects.using(using)
                .filter(seq__isnull=True, pk__gt=after)
                .order_by("pk")
                .select_for_update(skip_locked=True)[:batch_size]
            )
            if not batch:
                break
            after, last_batch = batch[-1].pk, len(batch) < batch_size
            copies = _copies(batch, using)
            chained = []
            for entry in batch:
                if entry.pk in copies or not hmac.compare_digest(entry.entry_hash or "", pending_seal(entry)):
                    result.refused.append(entry.pk)
                    continue
                entry.seq, entry.prev_hash = last_seq + 1, last_hash
                entry.entry_hash = link_hash(entry.prev_hash, content_digest(entry))
                last_seq, last_hash = entry.seq, entry.entry_hash
                chained.append(entry)
            if chained:
                # Only rows still unsealed: a count short of the batch means another sealer got there, which
                # the lock rules out; refuse to commit a chain that would then fork.
                updated = _write_links(AuditEntry, chained, using)
                if updated != len(chained):
                    raise RuntimeError(f"sealed {updated} of {len(chained)} audit entries; rolled back")
                result.sealed += [entry.pk for entry in chained]
            if last_batch:  # a short batch was the last: no need to ask again for nothing
                break
    result.head_seq = last_seq
    if result.refused:
        logger.error(
            "audit entries left unsealed: altered, forged or copied before sealing (ids %s)",
            ", ".join(str(pk) for pk in result.refused[:20]),
        )
    return result


# --- redaction ------------------------------------------------------------------------------------------


# Identifiers of records, never the person's value, even when part of one happens to spell their name: a
# UUID ("ada0bede-…" for Ada Bede) and the policy and claim numbers ("POL-…" for a Mr Pol; the formats are
# the models' check constraints).
_IDENTIFIER = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|(?<![^\W_])(?:POL|CLM)-[0-9a-f]{8}(?![^\W_])",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=16)
def _needle_pattern(needles: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so "Pen Ness" goes as one value before "Pen". The look-arounds are boundaries between
    # a letter or digit and anything else: they hold for values starting or ending with a non-word character
    # ("+44…", an address ending in "."), and `_` separates like `-` and `.` ("Vexleigh_note.pdf"), where
    # `\b` would count it as part of the word.
    alternatives = "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
    return re.compile(rf"(?<![^\W_])(?:{alternatives})(?![^\W_])", re.IGNORECASE)


def scrub(value: Any, needles: list[str], *, keep: frozenset[str] = frozenset()) -> Any:
    """Replace the person's values (`needles`, case-insensitive) inside strings of a JSON-like value.

    A needle matches only as a whole value or a whole word or phrase: "Ness" leaves "business" alone, "Pen"
    leaves "pending", and nothing inside a UUID, a policy or claim number or a longer number is touched.
    Letters and digits make words; everything else, `_` included, separates them ("[erased]_note.pdf").
    A string exactly equal to one of `keep` (the choice values of the records being scrubbed, e.g. the
    claim type "flood" of a customer named Flood) is not the person's value and is kept as it is.
    """
    needles = [n for n in needles if n]
    if not needles:
        return value
    return _scrub(value, _needle_pattern(tuple(needles)), keep)


def _scrub(value: Any, pattern: re.Pattern[str], keep: frozenset[str]) -> Any:
    if isinstance(value, str):
        if value in keep or not pattern.search(value):
            return value
        ids = [m.span() for m in _IDENTIFIER.finditer(value)]

        def replace(match: re.Match[str]) -> str:
            inside_id = any(start < match.end() and match.start() < end for start, end in ids)
            return match.group(0) if inside_id else ERASED

        return pattern.sub(replace, value)
    if isinstance(value, list):
        return [_scrub(item, pattern, keep) for item in value]
    if isinstance(value, dict):
        return {key: _scrub(item, pattern, keep) for key, item in value.items()}
    return value


def redact_entries(
    entries: Iterable,
    *,
    needles: list[str],
    fields: frozenset[str] = frozenset(),
    object_repr: str | None = None,
    keep: frozenset[str] = frozenset(),
) -> dict[str, dict[str, str]]:
    """Rewrite the person's values in `entries` and return the redaction map for the redaction entry.

    `fields` names change-set fields whose values are erased wholesale (the erased customer's own
    fields); `needles` are the person's values, erased wherever they occur as whole values or words in the
    entry's text and JSON (see `scrub`; `keep` names whole values that are never the person's);
    `object_repr`, when given, replaces the entry's object representation. Only entries that actually
    change are rewritten. The caller must append the redaction entry in the same transaction, holding the
    head (`seal_pending` inside it), so no sealer chains an entry between its read here and its rewrite.
    An entry still unsealed is rewritten with a new pending seal instead of a redaction record (it has no
    link yet to vouch for); it does not appear in the returned map.
    """
    from compliance.models import AuditEntry

    redactions: dict[str, dict[str, str]] = {}
    for entry in entries:
        original = content_digest(entry)
        changes = entry.changes
        if isinstance(changes, dict) and fields:
            changes = {name: (_erase_values(value) if name in fields else value) for name, value in changes.items()}
        new = {
            "object_repr": object_repr if object_repr is not None else scrub(entry.object_repr, needles, keep=keep),
            "changes": scrub(changes, needles, keep=keep),
            "changes_text": scrub(entry.changes_text, needles, keep=keep),
            "serialized_data": scrub(entry.serialized_data, needles, keep=keep),
            "additional_data": scrub(entry.additional_data, needles, keep=keep),
        }
        if all(getattr(entry, name) == value for name, value in new.items()):
            continue
        for name, value in new.items():
            setattr(entry, name, value)
        entry.salt = ""
        if entry.seq is None:
            # Never vouch for content that was already altered: a broken pending seal stays broken.
            if hmac.compare_digest(entry.entry_hash or "", pending_seal_of(original)):
                new["entry_hash"] = entry.entry_hash = pending_seal(entry)
        else:
            redactions[str(entry.seq)] = {"original": original, "redacted": content_digest(entry)}
        # The sanctioned rewrite of a sealed row: save() refuses updates, so this goes through update().
        AuditEntry.objects.filter(pk=entry.pk).update(salt="", **new)
    return redactions


def _erase_values(value: Any) -> Any:
    if isinstance(value, list):
        return [_erase_one(item) for item in value]
    if isinstance(value, dict):
        return {key: _erase_values(item) for key, item in value.items()}
    return _erase_one(value)


def _erase_one(value: Any) -> Any:
    # Empty values and the encrypted-field mask carry no personal data; keep them readable.
    if value in (None, "", "None", "[redacted]"):
        return value
    return ERASED


# --- verification -------------------------------------------------------------------------------------


@dataclass
class ChainBreak:
    kind: str  # "altered" | "inserted" | "deleted" | "unsealed" (not chained within the bound)
    seq: int | None
    entry_id: int | None
    detail: str

    def __str__(self) -> str:
        where = f"entry #{self.seq}" if self.seq is not None else "an unsealed entry (no sequence number)"
        return f"{self.kind.upper()}: {where} (id {self.entry_id}): {self.detail}"


@dataclass
class ChainReport:
    entries: int = 0  # sealed and unsealed
    redacted: int = 0
    head_seq: int | None = None
    head_hash: str = GENESIS
    pending: int = 0  # unsealed entries with a valid pending seal, younger than the bound (not breaks)
    breaks: list[ChainBreak] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> ChainBreak | None:
        return self.breaks[0] if self.breaks else None


@dataclass
class _Suspect:
    seq: int
    entry_id: int
    prev_hash: str
    entry_hash: str
    current: str
    accepted: str | None = None  # the digest vouched for by the last redaction covering this entry


def _batches(batch_size: int) -> Iterator[list]:
    from compliance.models import AuditEntry

    last = 0
    while True:
        batch = list(AuditEntry.objects.filter(seq__gt=last).order_by("seq")[:batch_size])
        if not batch:
            return
        yield batch
        last = batch[-1].seq


def verify_chain(
    *, batch_size: int = 2000, check_checkpoint: bool = True, now: dt.datetime | None = None
) -> ChainReport:
    """Walk the whole chain, then the unsealed entries; return a report whose `first_break` names the first
    bad entry and whose `pending` counts the unsealed entries still within the bound."""
    from compliance.models import AuditCheckpoint, AuditEntry

    report = ChainReport()
    found: list[ChainBreak] = []
    suspects: dict[int, _Suspect] = {}
    expected_prev, expected_seq = GENESIS, 1
    nested = connections["default"].in_atomic_block
    with transaction.atomic():
        # One snapshot for the whole walk: entries committed meanwhile do not look like a broken tail.
        if connections["default"].vendor == "postgresql" and not nested:
            with connections["default"].cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for batch in _batches(batch_size):
            for entry in batch:
                report.entries += 1
                if entry.seq < expected_seq:
                    found.append(ChainBreak("inserted", entry.seq, entry.pk, "duplicate or out-of-order sequence"))
                    continue
                if entry.seq > expected_seq:
                    missing = (
                        f"#{expected_seq}" if entry.seq == expected_seq + 1 else f"#{expected_seq}-#{entry.seq - 1}"
                    )
                    found.append(ChainBreak("deleted", entry.seq, entry.pk, f"entries {missing} are missing before it"))
                elif entry.prev_hash != expected_prev:
                    found.append(
                        ChainBreak(
                            "deleted" if entry.seq > 1 else "altered",
                            entry.seq,
                            entry.pk,
                            "its link does not match the previous entry's hash (an entry was removed or replaced)",
                        )
                    )
                current = content_digest(entry)
                if link_hash(entry.prev_hash, current) != entry.entry_hash:
                    suspects[entry.seq] = _Suspect(entry.seq, entry.pk, entry.prev_hash, entry.entry_hash, current)
                if isinstance(entry.additional_data, dict) and entry.seq not in suspects:
                    _apply_redactions(entry.additional_data.get(REDACTIONS_KEY), suspects)
                expected_prev, expected_seq = entry.entry_hash, entry.seq + 1
                report.head_seq, report.head_hash = entry.seq, entry.entry_hash
        unsealed, report.pending = _check_unsealed(found, batch_size=batch_size, now=now or timezone.now())
        report.entries += unsealed
        _check_copies(found)
        if check_checkpoint:
            checkpoint = AuditCheckpoint.objects.order_by("-seq").first()
            if checkpoint and (report.head_seq or 0) < checkpoint.seq:
                found.append(
                    ChainBreak(
                        "deleted",
                        checkpoint.seq,
                        None,
                        f"the chain ends at #{report.head_seq or 0}, before the verified "
                        f"checkpoint #{checkpoint.seq} (tail truncated)",
                    )
                )
            elif checkpoint:
                at = AuditEntry.objects.filter(seq=checkpoint.seq).values_list("entry_hash", flat=True).first()
                if at != checkpoint.entry_hash:
                    found.append(
                        ChainBreak(
                            "altered",
                            checkpoint.seq,
                            None,
                            "its hash differs from the one recorded by the last verification",
                        )
                    )
    for suspect in suspects.values():
        if suspect.accepted is not None and suspect.accepted == suspect.current:
            report.redacted += 1
            continue
        detail = "its content does not match its hash"
        if suspect.accepted is not None:
            detail = "it was changed after its GDPR redaction"
        found.append(ChainBreak("altered", suspect.seq, suspect.entry_id, detail))
    report.breaks = sorted(found, key=lambda b: (b.seq is None, b.seq or 0))
    return report


def _check_unsealed(found: list[ChainBreak], *, batch_size: int, now: dt.datetime) -> tuple[int, int]:
    """Check every entry without a sequence number: no seal at all is an insertion outside the chain, a
    pending seal that does not match is an alteration, a valid one older than the bound is overdue.
    Returns (entries checked, entries pending within the bound)."""
    from compliance.models import AuditEntry

    deadline, checked, pending, after = now - seal_bound(), 0, 0, 0
    while True:
        batch = list(AuditEntry.objects.filter(seq__isnull=True, pk__gt=after).order_by("pk")[:batch_size])
        if not batch:
            return checked, pending
        after = batch[-1].pk
        checked += len(batch)
        for entry in batch:
            if not entry.entry_hash:
                found.append(
                    ChainBreak(
                        "inserted",
                        None,
                        entry.pk,
                        "it carries no sequence number and no seal (written outside the chain)",
                    )
                )
            elif not hmac.compare_digest(entry.entry_hash, pending_seal(entry)):
                found.append(
                    ChainBreak(
                        "altered",
                        None,
                        entry.pk,
                        "its content does not match the seal it was written with (altered before "
                        "it was sealed, or written without the key)",
                    )
                )
            elif entry.timestamp < deadline:
                found.append(
                    ChainBreak(
                        "unsealed",
                        None,
                        entry.pk,
                        f"not sealed within {int(seal_bound().total_seconds())} s of being written "
                        "(is the sealer running?)",
                    )
                )
            else:
                pending += 1


def _check_copies(found: list[ChainBreak]) -> None:
    """Entries sharing a salt: every one after the first (by sequence, then id) is a replayed copy. Each
    salt is random, so two genuine entries never share one; redaction wipes it (empty, not compared)."""
    from django.db.models import Count

    from compliance.models import AuditEntry

    shared = (
        AuditEntry.objects.exclude(salt="")
        .values("salt")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("salt", flat=True)
    )
    for salt in shared:
        rows = list(
            AuditEntry.objects.filter(salt=salt)
            .order_by(models.F("seq").asc(nulls_last=True), "pk")
            .values_list("seq", "pk")
        )
        original = f"#{rows[0][0]}" if rows[0][0] is not None else f"id {rows[0][1]}"
        for seq, pk in rows[1:]:
            found.append(ChainBreak("inserted", seq, pk, f"a copy of entry {original} (the same salt)"))


def _apply_redactions(redactions: Any, suspects: dict[int, _Suspect]) -> None:
    if not isinstance(redactions, dict):
        return
    for seq_text, digests in redactions.items():
        try:
            suspect = suspects.get(int(seq_text))
            original, redacted = digests["original"], digests["redacted"]
        except (TypeError, ValueError, KeyError):
            continue
        if suspect is None:
            continue
        if suspect.accepted is None:
            if link_hash(suspect.prev_hash, original) == suspect.entry_hash:
                suspect.accepted = redacted
        elif suspect.accepted == original:
            suspect.accepted = redacted
