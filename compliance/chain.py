"""The audit trail's hash chain (SPEC §7.1) and GDPR redaction that keeps it verifiable (§7.2).

Sealing
    Every `AuditEntry` is sealed as it is inserted, in the inserting transaction:
    ``content_digest = SHA-256(canonical JSON of the entry's content)`` and
    ``entry_hash = HMAC-SHA256(AUDIT_CHAIN_KEY, prev_hash || content_digest)``, where ``prev_hash`` is the
    previous entry's ``entry_hash`` (64 zeros for the first) and ``seq`` numbers the entries 1, 2, 3...
    The content is everything an auditor relies on: sequence number, salt, content type (as
    ``app_label.model``, stable across databases), object pk/id, object representation, action, changes,
    change text, serialised data, additional data, actor id and e-mail, timestamp, correlation id, remote
    address and port. The HMAC key means a forger with write access to the table but not to the key cannot
    append or insert entries that verify.

    The chain head is serialised with ``pg_advisory_xact_lock`` held until the writing transaction ends, so
    concurrent writers queue for the head and the chain never forks (SQLite serialises writers anyway).
    The lock is held for the rest of the writing transaction: services take their row locks before they
    write (the house pattern), which keeps lock order consistent.

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
    every redaction is itself on the record.

Verification
    `verify_chain` walks the entries in ``seq`` order in batches and reports the first entry that was
    altered (hash mismatch), inserted (a forged hash, a duplicate/out-of-order sequence number or no
    sequence number) or deleted (a gap in the sequence, a broken link or a truncated tail behind the last
    checkpoint).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connections, transaction
from django.utils import timezone

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


def _normalise_json(entry) -> None:
    """Round-trip JSON values through their encoder, so the hashed form is exactly what the database
    returns later (Decimals, dates and tuples become strings and lists before hashing, not after)."""
    for name in JSON_FIELDS:
        value = getattr(entry, name)
        if value is not None:
            encoder = type(entry)._meta.get_field(name).encoder
            setattr(entry, name, json.loads(json.dumps(value, cls=encoder)))


def _lock_head(using: str) -> None:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


def seal(entry, *, using: str) -> None:
    """Give a new entry its sequence number, previous hash and hash. Runs inside the inserting
    transaction (AuditEntry.save opens one) under the chain-head lock."""
    if not connections[using].in_atomic_block:
        raise RuntimeError("An audit entry must be sealed inside a transaction.")
    _lock_head(using)
    model = type(entry)
    head = (
        model.objects.using(using).filter(seq__isnull=False).order_by("-seq").values_list("seq", "entry_hash")
        .first()
    )
    entry.seq, entry.prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS)
    if not entry.salt:
        entry.salt = model._meta.get_field("salt").get_default()
    entry.remote_addr = _ip(entry.remote_addr)
    _normalise_json(entry)
    entry.entry_hash = link_hash(entry.prev_hash, content_digest(entry))


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


def redact_entries(entries: Iterable, *, needles: list[str], fields: frozenset[str] = frozenset(),
                   object_repr: str | None = None, keep: frozenset[str] = frozenset()) -> dict[str, dict[str, str]]:
    """Rewrite the person's values in `entries` and return the redaction map for the redaction entry.

    `fields` names change-set fields whose values are erased wholesale (the erased customer's own
    fields); `needles` are the person's values, erased wherever they occur as whole values or words in the
    entry's text and JSON (see `scrub`; `keep` names whole values that are never the person's);
    `object_repr`, when given, replaces the entry's object representation. Only entries that actually
    change are rewritten. The caller must append the redaction entry in the same transaction.
    """
    from compliance.models import AuditEntry

    redactions: dict[str, dict[str, str]] = {}
    for entry in entries:
        original = content_digest(entry)
        changes = entry.changes
        if isinstance(changes, dict) and fields:
            changes = {
                name: (_erase_values(value) if name in fields else value) for name, value in changes.items()
            }
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
    kind: str  # "altered" | "inserted" | "deleted"
    seq: int | None
    entry_id: int | None
    detail: str

    def __str__(self) -> str:
        where = f"entry #{self.seq}" if self.seq is not None else "an entry without a sequence number"
        return f"{self.kind.upper()}: {where} (id {self.entry_id}): {self.detail}"


@dataclass
class ChainReport:
    entries: int = 0
    redacted: int = 0
    head_seq: int | None = None
    head_hash: str = GENESIS
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


def verify_chain(*, batch_size: int = 2000, check_checkpoint: bool = True) -> ChainReport:
    """Walk the whole chain; return a report whose `first_break` names the first bad entry."""
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
                    missing = (f"#{expected_seq}" if entry.seq == expected_seq + 1
                               else f"#{expected_seq}-#{entry.seq - 1}")
                    found.append(ChainBreak("deleted", entry.seq, entry.pk, f"entries {missing} are missing before it"))
                elif entry.prev_hash != expected_prev:
                    found.append(ChainBreak(
                        "deleted" if entry.seq > 1 else "altered", entry.seq, entry.pk,
                        "its link does not match the previous entry's hash (an entry was removed or replaced)",
                    ))
                current = content_digest(entry)
                if link_hash(entry.prev_hash, current) != entry.entry_hash:
                    suspects[entry.seq] = _Suspect(entry.seq, entry.pk, entry.prev_hash, entry.entry_hash, current)
                if isinstance(entry.additional_data, dict) and entry.seq not in suspects:
                    _apply_redactions(entry.additional_data.get(REDACTIONS_KEY), suspects)
                expected_prev, expected_seq = entry.entry_hash, entry.seq + 1
                report.head_seq, report.head_hash = entry.seq, entry.entry_hash
        unsequenced = AuditEntry.objects.filter(seq__isnull=True).order_by("pk").values_list("pk", flat=True)[:1]
        for pk in unsequenced:
            found.append(ChainBreak("inserted", None, pk, "it carries no sequence number (written outside the chain)"))
        if check_checkpoint:
            checkpoint = AuditCheckpoint.objects.order_by("-seq").first()
            if checkpoint and (report.head_seq or 0) < checkpoint.seq:
                found.append(ChainBreak("deleted", checkpoint.seq, None,
                                        f"the chain ends at #{report.head_seq or 0}, before the verified "
                                        f"checkpoint #{checkpoint.seq} (tail truncated)"))
            elif checkpoint:
                at = AuditEntry.objects.filter(seq=checkpoint.seq).values_list("entry_hash", flat=True).first()
                if at != checkpoint.entry_hash:
                    found.append(ChainBreak("altered", checkpoint.seq, None,
                                            "its hash differs from the one recorded by the last verification"))
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
