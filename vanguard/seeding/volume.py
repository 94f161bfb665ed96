"""Volume data for `seed --customers N`: synthetic customers with policies, claims and their events, and the
claims' money (SPEC §10): each claim's initial reserve, the payment that settled each paid claim (through the
four-eyes workflow), some recoveries, the reserves closed with the claim, and the claim's stored totals.

Written with bulk inserts (PostgreSQL COPY; a batched INSERT elsewhere), one transaction per batch of
customers. The rows are built to the same rules the services enforce, so the volume book is valid data,
not just load: claims only on active, inactive or expired policies, incidents inside the policy term and not
in the future, amounts within coverage, approvals within the decider's authority, premiums at or above the
minimum, consent dated, every status change with its event, stored totals that verify_claim_financials agrees
with. Encrypted columns are encrypted exactly as the ORM would encrypt them (FieldEncryptor checks itself against
the field at start-up).

Speed (issue 13: ≥ 30,000 rows/s at a million customers). A profile of the single-process seed put about half
its time in django-cryptography (~50 µs per value: a new Cipher, padder and HMAC key per call), a fifth in
formatting COPY rows and most of the rest in uuid4 (an os.urandom call each) and random draws. So each batch is
now built, encrypted and formatted into COPY text by a pool of worker processes (fork; they never touch the
database connection), and this process only streams the finished bytes to PostgreSQL, which parses them on
the other core. Batches are independent: each has its own random source derived from `--random-seed` and the
batch's first index, and reference numbers come from a fixed bijection of per-customer slots (`_scramble32`),
so no worker needs to know what another one drew and the output does not depend on the number of workers.

The volume rows bypass the per-row audit trail on purpose (they are synthetic load data written by an
operator command, not business actions); each row's events name the staff user who "did" the step.

Idempotent by natural key: volume customers have emails `v<7-digit index>.<first>.<last>@volume.example`;
`--customers N` tops the volume set up to N customers and writes nothing when it already holds N.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import itertools
import multiprocessing
import os
import pickle
import random
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import orjson
from cryptography.hazmat.primitives import hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django.utils.encoding import force_bytes
from django_cryptography.fields import EncryptedMixin
from psycopg import _copy_base
from psycopg.adapt import Transformer

from claims.models import (
    Claim,
    ClaimEvent,
    ClaimPayment,
    ClaimRecovery,
    CostType,
    PaymentMethod,
    PaymentStatus,
    RecoveryKind,
    ReserveChange,
)
from customers import pii
from customers.models import Customer
from policies.models import Policy, PolicyEvent
from vanguard.accounts.authority import authority_limit
from vanguard.accounts.models import User

VOLUME_DOMAIN = "volume.example"
# The incident moment of ../shared/bench's claim POST: the ids it is given must accept a claim at that time.
BENCH_INCIDENT = dt.datetime(2024, 6, 15, 10, 30, tzinfo=dt.UTC)
BENCH_MIN_COVERAGE = Decimal("100.00")
DAY = dt.timedelta(days=1)
DAY_S = 86400.0
# Reference-number slots per customer: at most 3 policies, each renewed at most once (6), at most 2 claims each,
# at most one payment per claim.
POLICY_SLOTS, CLAIM_SLOTS, PAYMENT_SLOTS = 8, 16, 16
# Below this many customers the batches are built in this process: a pool costs more than it saves.
PARALLEL_ABOVE = 20_000
M32 = 0xFFFFFFFF
UUID_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
UUID_V4_SET = (0x4000 << 64) | (0x8000 << 48)

_FIRST_NAMES = (
    "Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Willow Emily Ella Poppy Evie Charlotte "
    "Noah Oliver George Arthur Muhammad Leo Harry Oscar Archie Henry Theodore Freddie Jack Charlie Theo Jacob "
    "Thomas Alfie Finley Lucas Amara Priya Aisha Zara Mei Kenji Mateo Sofia Lukas Anna Jan Nina Omar Yusuf"
)
_LAST_NAMES = (
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Robinson Wright Thompson Evans Walker White "
    "Roberts Green Hall Thomas Clarke Jackson Wood Harris Edwards Turner Martin Cooper Hill Ward Hughes Moore "
    "Clark King Harrison Lewis Baker Lee Allen Morris Khan Scott Watson Davis Parker James Bennett Young Phillips "
    "Richardson Mitchell Bailey Carter Cook Singh Shaw Bell Collins Morgan Kelly Begum Nowak Kowalski Schmidt"
)
FIRST_NAMES = tuple(_FIRST_NAMES.split())
LAST_NAMES = tuple(_LAST_NAMES.split())
STREETS = (
    "High Street",
    "Station Road",
    "Main Street",
    "Park Road",
    "Church Road",
    "Church Street",
    "London Road",
    "Victoria Road",
    "Green Lane",
    "Manor Road",
    "Church Lane",
    "Park Avenue",
    "The Avenue",
    "Queens Road",
    "New Road",
    "Grange Road",
    "Kings Road",
    "Mill Lane",
    "Windsor Road",
    "Highfield Road",
)
CITIES = (
    ("London", "SW1A"),
    ("Manchester", "M1"),
    ("Birmingham", "B1"),
    ("Leeds", "LS1"),
    ("Glasgow", "G1"),
    ("Edinburgh", "EH1"),
    ("Bristol", "BS1"),
    ("Cardiff", "CF10"),
    ("Liverpool", "L1"),
    ("Sheffield", "S1"),
    ("Newcastle", "NE1"),
    ("Nottingham", "NG1"),
    ("Belfast", "BT1"),
    ("Leicester", "LE1"),
    ("York", "YO1"),
)
CLAIM_TYPES_BY_POLICY = {
    Policy.PolicyType.AUTO: (Claim.ClaimType.ACCIDENT, Claim.ClaimType.THEFT, Claim.ClaimType.DAMAGE),
    Policy.PolicyType.HOME: (
        Claim.ClaimType.THEFT,
        Claim.ClaimType.DAMAGE,
        Claim.ClaimType.FIRE,
        Claim.ClaimType.FLOOD,
    ),
    Policy.PolicyType.LIFE: (Claim.ClaimType.MEDICAL, Claim.ClaimType.ACCIDENT),
    Policy.PolicyType.HEALTH: (Claim.ClaimType.MEDICAL,),
    Policy.PolicyType.BUSINESS: (
        Claim.ClaimType.THEFT,
        Claim.ClaimType.DAMAGE,
        Claim.ClaimType.FIRE,
        Claim.ClaimType.FLOOD,
    ),
}
DESCRIPTIONS = {
    Claim.ClaimType.ACCIDENT: "Collision reported by the policyholder; third party details taken.",
    Claim.ClaimType.THEFT: "Items stolen; crime reference number supplied.",
    Claim.ClaimType.DAMAGE: "Accidental damage; photos and a repair estimate to follow.",
    Claim.ClaimType.MEDICAL: "Treatment costs; invoices from the provider attached.",
    Claim.ClaimType.FIRE: "Fire damage; fire service report requested.",
    Claim.ClaimType.FLOOD: "Water ingress after heavy rain; drying company engaged.",
}
DENIAL_REASONS = (
    "Loss falls under a policy exclusion.",
    "Insufficient evidence of the loss after two requests.",
    "Incident reported outside the notification period.",
    "Damage pre-dates the policy term.",
)
SALVAGE_SOURCES = ("Copart salvage auction", "Synetiq salvage", "Ashford Reclamation", "Euro Car Parts (parts resale)")
SUBROGATION_SOURCES = ("Third party's insurer", "Contractor's liability insurer", "Water company (burst main)")
RECOVERY_SHARE = 0.08  # of the claims paid, the share with money recovered
CANCELLATION_REASONS = (
    "Cancelled at the customer's request.",
    "Non-payment of premium.",
    "Risk no longer exists (asset sold).",
    "Replaced by a policy with another insurer.",
)
# (status, path through the workflow, weight)
CLAIM_OUTCOMES = (
    ("pending", (), 14),
    ("processing", ("processing",), 14),
    ("approved", ("processing", "approved"), 12),
    ("denied", ("processing", "denied"), 10),
    ("paid", ("processing", "approved", "paid"), 28),
    ("closed", ("processing", "approved", "paid", "closed"), 14),
    ("closed", ("processing", "denied", "closed"), 8),
)


def _cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


def _seconds(value: float) -> dt.timedelta:
    return dt.timedelta(seconds=value)


def _scramble32(x: int) -> int:
    """A fixed bijection of the 32-bit integers (xorshift-multiply rounds, each invertible: the multiplier is odd),
    so distinct slots always give distinct, random-looking reference numbers."""
    x &= M32
    x ^= x >> 16
    x = (x * 0x45D9F3B) & M32
    x ^= x >> 16
    x = (x * 0x45D9F3B) & M32
    return x ^ (x >> 16)


def _uuid(rng: random.Random) -> str:
    """A version-4 UUID from the batch's random source, as text (what COPY sends; ~3x cheaper than uuid4)."""
    h = f"{(rng.getrandbits(128) & UUID_V4_CLEAR) | UUID_V4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class FieldEncryptor:
    """Encrypts values for one django-cryptography field exactly as the field does, without its per-value setup.

    Relies on django-cryptography's token format (2.0, pinned in pyproject.toml): `FernetSigner.sign` of
    `iv + AES-CBC(PKCS7(pickle.dumps(value)))`, i.e. version byte 0x80, 8-byte big-endian timestamp, payload,
    HMAC-SHA256 of all that under the signer's key. The AES key, the HMAC key and a batch of IVs are set up once
    instead of per value (about 2.5x faster). The constructor decrypts a sample through the field itself and
    falls back to the field's own `get_db_prep_save` if the format ever differs, so a library upgrade can make the
    seed slower, never wrong.
    """

    def __init__(self, field: EncryptedMixin) -> None:
        self.field = field
        fernet = field._fernet
        self.aes = algorithms.AES(force_bytes(fernet.key))
        self.mac = hmac.HMAC(force_bytes(fernet.signer.key), fernet.signer.hasher)
        self.version = fernet.signer.version
        sample = dt.date(2000, 1, 31) if isinstance(field, models.DateField) else "1 Sample Street, York YO1 7HH"
        try:
            self.fast = field._load(self.encrypt([sample])[0]) == sample
        except Exception:  # any mismatch means: use the field's own (slower) path
            self.fast = False

    def encrypt(self, values: list) -> list[bytes | None]:
        field = self.field
        if not getattr(self, "fast", True):
            db = connections[DEFAULT_DB_ALIAS]  # only for `Database.Binary`: no query, safe in a worker
            return [None if (v := field.get_db_prep_save(value, db)) is None else bytes(v) for value in values]
        header = struct.pack(">cQ", self.version, int(time.time()))
        ivs = os.urandom(16 * len(values))
        aes, mac, prep = self.aes, self.mac, field.get_prep_value
        out = []
        for i, value in enumerate(values):
            value = prep(value)
            if value is None:
                out.append(None)
                continue
            data = pickle.dumps(value)
            pad = 16 - len(data) % 16
            iv = ivs[16 * i : 16 * i + 16]
            encryptor = Cipher(aes, modes.CBC(iv)).encryptor()
            signed = header + iv + encryptor.update(data + bytes((pad,)) * pad) + encryptor.finalize()
            h = mac.copy()
            h.update(signed)
            out.append(signed + h.finalize())
        return out


class TableWriter:
    """Bulk-writes plain-Python rows for one model: COPY on PostgreSQL, batched INSERT elsewhere.

    Rows hold Python values in `columns` order (attnames). On PostgreSQL `format` turns a batch into COPY text —
    encrypted columns through FieldEncryptor, JSON serialised, the rest by psycopg's own text dumpers — and may
    run in a worker process; `write_copy` streams it. Elsewhere `prepare` passes every column through the
    field's `get_db_prep_save` and `write` inserts them.
    """

    def __init__(self, model: type[models.Model], columns: Sequence[str]) -> None:
        self.model = model
        self.label = model._meta.label
        self.fields = [model._meta.get_field(name) for name in columns]
        self.db_columns = [f.column for f in self.fields]
        self.encrypted = [(i, FieldEncryptor(f)) for i, f in enumerate(self.fields) if isinstance(f, EncryptedMixin)]
        self.json = [i for i, f in enumerate(self.fields) if isinstance(f, models.JSONField)]
        self.rows = 0

    def prepare(self, rows: list[tuple], db: BaseDatabaseWrapper) -> list[Sequence]:
        return [tuple(f.get_db_prep_save(v, db) for f, v in zip(self.fields, row, strict=True)) for row in rows]

    def format(self, rows: list[tuple]) -> bytes:
        """The COPY text of `rows`. Uses psycopg's COPY formatter without a connection: `Transformer()` with the
        global adapters and the C `_copy_base.format_row_text` that `Copy.write_row` calls (psycopg 3.3 internals,
        pinned; the text format itself is PostgreSQL's and stable). Every value is already text-safe: ids are
        strings, moments are aware datetimes (dumped with their offset), amounts Decimals, ciphertexts bytes."""
        if not rows:  # a batch may hold none of a table's rows (no payment among a few customers' claims)
            return b""
        columns = [list(column) for column in zip(*rows, strict=True)]
        for index, encryptor in self.encrypted:
            # bytea as its hex text: psycopg's bytes dumper escapes for a connection's settings, and there is none.
            columns[index] = [None if b is None else "\\x" + b.hex() for b in encryptor.encrypt(columns[index])]
        for index in self.json:
            columns[index] = [orjson.dumps(data).decode() if data else "{}" for data in columns[index]]
        transformer, out, format_row = Transformer(), bytearray(), _copy_base.format_row_text
        for row in zip(*columns, strict=True):
            format_row(row, transformer, out)
        return bytes(out)

    def write_copy(self, payload: bytes, rows: int, db: BaseDatabaseWrapper) -> None:
        if not rows:
            return
        quote = db.ops.quote_name
        with (
            db.cursor() as cursor,
            cursor.copy(
                f"COPY {quote(self.model._meta.db_table)} ({', '.join(quote(c) for c in self.db_columns)}) FROM STDIN"
            ) as copy,
        ):
            copy.write(payload)
        self.rows += rows

    def write(self, prepared: list[Sequence], db: BaseDatabaseWrapper) -> None:
        if not prepared:
            return
        quote = db.ops.quote_name
        table = quote(self.model._meta.db_table)
        column_list = ", ".join(quote(c) for c in self.db_columns)
        placeholders = ", ".join(["%s"] * len(self.fields))
        with db.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} ({column_list}) VALUES ({placeholders})", prepared)  # noqa: S608
        self.rows += len(prepared)


CUSTOMER_COLUMNS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "date_of_birth",
    "address",
    "ssn",
    "ssn_hash",
    "phone_masked",
    "address_masked",
    "ssn_last4",
    "pii_encrypted",
    "encryption_key_id",
    "gdpr_consent",
    "gdpr_consent_date",
    "gdpr_consent_withdrawn_at",
    "data_retention_date",
    "erased_at",
    "created_at",
    "updated_at",
)
POLICY_COLUMNS = (
    "id",
    "policy_number",
    "customer_id",
    "policy_type",
    "premium_amount",
    "coverage_amount",
    "start_date",
    "end_date",
    "status",
    "compliance_status",
    "last_audit_date",
    "cancellation_reason",
    "cancelled_at",
    "renewal_of_id",
    "created_at",
    "updated_at",
)
EVENT_COLUMNS = ("actor_id", "kind", "from_status", "to_status", "reason", "data", "created_at")
CLAIM_COLUMNS = (
    "id",
    "claim_number",
    "policy_id",
    "customer_id",
    "claim_type",
    "claim_amount",
    "description",
    "incident_date",
    "reported_date",
    "status",
    "approved_amount",
    "decision_reason",
    "processed_date",
    "assigned_to_id",
    "created_by_id",
    "decided_by_id",
    "reserve_indemnity",
    "reserve_expense",
    "paid_indemnity",
    "paid_expense",
    "recovered",
    "gross_incurred",
    "net_incurred",
    "created_at",
    "updated_at",
)
RESERVE_COLUMNS = ("id", "claim_id", "cost_type", "previous_amount", "new_amount", "reason", "actor_id", "created_at")
PAYMENT_COLUMNS = (
    "id",
    "payment_number",
    "claim_id",
    "cost_type",
    "amount",
    "payee_name",
    "payee_account",
    "payee_is_policyholder",
    "method",
    "reference",
    "status",
    "requested_by_id",
    "requested_at",
    "approved_by_id",
    "approved_at",
    "issued_by_id",
    "issued_at",
    "cancelled_by_id",
    "cancelled_at",
    "cancel_reason",
    "voided_by_id",
    "voided_at",
    "void_reason",
    "encryption_key_id",
    "created_at",
    "updated_at",
)
RECOVERY_COLUMNS = ("id", "claim_id", "kind", "amount", "source", "reference", "received_at", "actor_id", "created_at")


@dataclass
class Actors:
    """The staff the volume events name: who wrote policies, who handled and decided claims, who issued payments
    (Finance; the superuser when no Finance user is given)."""

    underwriter: User
    adjuster: User
    manager: User
    superuser: User
    system: User
    finance: User | None = None
    adjuster_limit: Decimal | None = field(init=False)
    manager_limit: Decimal | None = field(init=False)

    def __post_init__(self) -> None:
        self.adjuster_limit = authority_limit(self.adjuster)
        self.manager_limit = authority_limit(self.manager)
        if self.finance is None:
            self.finance = self.superuser

    def payment_approver(self, amount: Decimal) -> User:
        """Who approves the adjuster's payment under four eyes: the least senior other user whose authority
        covers it."""
        return self.manager if self.manager_limit is None or amount <= self.manager_limit else self.superuser

    def decider_for(self, amount: Decimal) -> User:
        """The least senior handler whose approval authority covers `amount` (the business rule)."""
        for user, limit in ((self.adjuster, self.adjuster_limit), (self.manager, self.manager_limit)):
            if limit is None or amount <= limit:
                return user
        return self.superuser


@dataclass
class VolumeResult:
    created_customers: int
    existing_customers: int
    seconds: float
    tables: list[TableWriter]

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


ZERO = Decimal("0.00")
TICK = dt.timedelta(microseconds=1)


class _ClaimMoney:
    """One claim's indemnity reserve, paid and recovered as its rows are built; reserve changes stamped strictly
    one after the other (a claim's latest change is the one with the latest created_at)."""

    __slots__ = ("changes", "claim_id", "last", "paid", "recovered", "reserve")

    def __init__(self, claim_id: str) -> None:
        self.claim_id, self.reserve, self.paid, self.recovered = claim_id, ZERO, ZERO, ZERO
        self.changes: list[tuple] = []
        self.last: dt.datetime | None = None

    def change(self, change_id: str, new: Decimal, reason: str, actor_id, at: dt.datetime) -> None:
        if self.last is not None and at <= self.last:
            at = self.last + TICK
        self.changes.append((change_id, self.claim_id, CostType.INDEMNITY, self.reserve, new, reason, actor_id, at))
        self.reserve, self.last = new, at


class VolumeGenerator:
    """Builds the rows of one batch of customers at a time. Each batch draws from its own random source (from
    `random_seed` and the batch's first index) and numbers its policies and claims from its customers' slots, so
    batches can be built in any order, in any process, and still give the same rows."""

    def __init__(
        self,
        *,
        actors: Actors,
        now: dt.datetime,
        random_seed: int | None,
        taken_policy_numbers: set[str],
        taken_claim_numbers: set[str],
        taken_payment_numbers: set[str] | None = None,
    ) -> None:
        self.actors = actors
        self.now = now
        self.random_seed = random_seed
        self.rng = random.Random(random_seed)
        self.policy_numbers = taken_policy_numbers
        self.claim_numbers = taken_claim_numbers
        self.payment_numbers = taken_payment_numbers or set()
        self.slots = {"POL": 0, "CLM": 0, "PAY": 0}
        self.slot_ends = {"POL": 0, "CLM": 0, "PAY": 0}
        self.four_eyes_limit = settings.PAYMENT_FOUR_EYES_LIMIT
        self.payee = ""
        self.key_id = settings.ENCRYPTION_KEY_ID
        self.retention = dt.timedelta(days=settings.DATA_RETENTION_DAYS)
        self.min_premium_cents = {t: int(v * 100) for t, v in settings.MINIMUM_PREMIUMS.items()}
        self.policy_types = list(Policy.PolicyType.values)
        self.outcomes = [(status, path) for status, path, _ in CLAIM_OUTCOMES]
        self.outcome_cum_weights = list(itertools.accumulate(weight for _, _, weight in CLAIM_OUTCOMES))

    def _number(self, prefix: str, taken: set[str]) -> str:
        """The customer's next free reference number: distinct slots never collide (a bijection), and a slot
        whose number an older row already holds (demo data, a run of an earlier version) is skipped."""
        while True:
            slot = self.slots[prefix]
            if slot >= self.slot_ends[prefix]:
                raise RuntimeError(f"volume seed: a customer ran out of {prefix} number slots")
            self.slots[prefix] = slot + 1
            number = f"{prefix}-{_scramble32(slot):08X}"
            if number not in taken:
                return number

    def _after(self, moment: dt.datetime, max_days: float) -> dt.datetime:
        """A moment up to `max_days` after `moment`, never in the future."""
        return min(moment + _seconds(self.rng.random() * max_days * DAY_S), self.now)

    def batch(self, indexes: range) -> dict[str, list[tuple]]:
        out: dict[str, list[tuple]] = {
            "customers": [],
            "policies": [],
            "policy_events": [],
            "claims": [],
            "claim_events": [],
            "reserve_changes": [],
            "payments": [],
            "recoveries": [],
        }
        # A string seed is hashed with SHA-512: the same stream in every process, whatever PYTHONHASHSEED.
        self.rng = random.Random(None if self.random_seed is None else f"{self.random_seed}/{indexes.start}")
        for index in indexes:
            self.slots = {"POL": index * POLICY_SLOTS, "CLM": index * CLAIM_SLOTS, "PAY": index * PAYMENT_SLOTS}
            self.slot_ends = {
                "POL": (index + 1) * POLICY_SLOTS,
                "CLM": (index + 1) * CLAIM_SLOTS,
                "PAY": (index + 1) * PAYMENT_SLOTS,
            }
            self._customer(index, out)
        return out

    def _customer(self, index: int, out: dict[str, list[tuple]]) -> None:
        rng, now = self.rng, self.now
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        self.payee = f"{first} {last}"  # their claims are paid to them
        created = now - _seconds(rng.random() * 3 * 365 * DAY_S)
        city, district = rng.choice(CITIES)
        ssn = ""
        if rng.random() < 0.9:
            digits = f"{100_000_000 + index:09d}"
            ssn = f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
        customer_id = _uuid(rng)
        phone = f"+447{rng.randrange(100_000_000, 999_999_999)}"
        address = (
            f"{rng.randrange(1, 300)} {rng.choice(STREETS)}, {city} {district} {rng.randrange(1, 9)}"
            f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        )
        out["customers"].append(
            (
                customer_id,
                f"v{index:07d}.{first}.{last}@{VOLUME_DOMAIN}".lower(),
                first,
                last,
                phone,
                dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 65 * 365)),
                address,
                ssn,
                pii.ssn_hash(ssn),
                # Customer.refresh_masks, without a model instance per row
                pii.mask_phone(phone),
                pii.mask_text(address),
                pii.ssn_last4(ssn) or "",
                True,
                self.key_id,
                True,
                created,
                None,
                created + self.retention,
                None,
                created,
                created,
            )
        )
        for _ in range(rng.choices((1, 2, 3), cum_weights=(60, 90, 100))[0]):
            self._policy(customer_id, created, out)

    def _policy(
        self,
        customer_id: str,
        customer_created: dt.datetime,
        out: dict[str, list[tuple]],
        *,
        renewal_of: tuple | None = None,
        policy_id: str | None = None,
    ) -> None:
        rng, now, actors = self.rng, self.now, self.actors
        if renewal_of is None:
            policy_type = rng.choice(self.policy_types)
            premium = _cents(self.min_premium_cents[policy_type] + rng.randrange(0, 400_000))
            coverage = _cents(rng.randrange(10_000, 1_000_000) * 100)
            window = (now + 60 * DAY - customer_created).total_seconds()
            start = customer_created + _seconds(rng.random() * window)
            term = dt.timedelta(days=3650 if policy_type == Policy.PolicyType.LIFE else 365)
        else:
            _, _, policy_type, premium, coverage, old_start, old_end, renewed_at = renewal_of
            start, term = old_end, old_end - old_start
        end = start + term
        policy_id = policy_id or _uuid(rng)
        number = self._number("POL", self.policy_numbers)
        events: list[tuple] = []
        cancellation_reason, cancelled_at = "", None
        if renewal_of is not None:
            created = renewed_at
        elif start <= now:
            created = start  # back-dated business is written on its start date: active at once
        else:
            created = max(customer_created, now - _seconds(rng.random() * 30 * DAY_S))
        initial = Policy.Status.ACTIVE if start <= created else Policy.Status.PENDING
        events.append(
            (
                actors.underwriter.pk,
                PolicyEvent.Kind.CREATED,
                "",
                initial,
                "",
                {"renewal_of": str(renewal_of[0])} if renewal_of else {},
                created,
            )
        )
        status, updated = initial, created
        renew = False
        if initial == Policy.Status.PENDING:
            if rng.random() < 0.05:
                status, cancelled_at = Policy.Status.CANCELLED, self._after(created, 20)
                cancellation_reason = rng.choice(CANCELLATION_REASONS)
                events.append(
                    (
                        actors.underwriter.pk,
                        PolicyEvent.Kind.CANCELLED,
                        initial,
                        status,
                        cancellation_reason,
                        {"cancelled_at": str(cancelled_at)},
                        cancelled_at,
                    )
                )
                updated = cancelled_at
        elif end < now:
            status, updated = Policy.Status.EXPIRED, min(end + _seconds(rng.random() * DAY_S), now)
            events.append((actors.system.pk, PolicyEvent.Kind.EXPIRED, initial, status, "", {}, updated))
            # Renew about half of the expired terms whose next term is still running.
            renew = renewal_of is None and end + term > now and rng.random() < 0.5
        else:
            draw = rng.random()
            if draw < 0.06:
                status, updated = Policy.Status.INACTIVE, self._after(start, (now - start).total_seconds() / DAY_S)
                events.append(
                    (
                        actors.underwriter.pk,
                        PolicyEvent.Kind.SUSPENDED,
                        initial,
                        status,
                        "Premium payment overdue.",
                        {},
                        updated,
                    )
                )
            elif draw < 0.14:
                cancelled_at = self._after(start, (now - start).total_seconds() / DAY_S)
                status, updated = Policy.Status.CANCELLED, cancelled_at
                cancellation_reason = rng.choice(CANCELLATION_REASONS)
                events.append(
                    (
                        actors.underwriter.pk,
                        PolicyEvent.Kind.CANCELLED,
                        initial,
                        status,
                        cancellation_reason,
                        {"cancelled_at": str(cancelled_at)},
                        cancelled_at,
                    )
                )
        compliance, last_audit = Policy.ComplianceStatus.COMPLIANT, None
        if created < now - 30 * DAY and rng.random() < 0.2:
            last_audit = self._after(created, (now - created).total_seconds() / DAY_S)
            compliance = rng.choices(Policy.ComplianceStatus.values, cum_weights=(80, 95, 100))[0]
        renewal_row = renewal_id = None
        if renew:
            renewal_id = _uuid(rng)
            renewal_row = (policy_id, number, policy_type, premium, coverage, start, end, updated)
            events.append(
                (
                    actors.underwriter.pk,
                    PolicyEvent.Kind.RENEWED,
                    status,
                    status,
                    "",
                    {"renewal_id": str(renewal_id)},
                    updated,
                )
            )
        out["policies"].append(
            (
                policy_id,
                number,
                customer_id,
                policy_type,
                premium,
                coverage,
                start,
                end,
                status,
                compliance,
                last_audit,
                cancellation_reason,
                cancelled_at,
                renewal_of[0] if renewal_of else None,
                created,
                updated,
            )
        )
        out["policy_events"].extend((policy_id, *event) for event in events)
        if status in Policy.CLAIMABLE_STATUSES and start < now:
            draw = rng.random()
            for _ in range(2 if draw < 0.1 else 1 if draw < 0.5 else 0):
                self._claim(policy_id, customer_id, policy_type, coverage, start, min(end, now), out)
        if renewal_row is not None:
            self._policy(customer_id, customer_created, out, renewal_of=renewal_row, policy_id=renewal_id)

    def _claim(
        self,
        policy_id: str,
        customer_id: str,
        policy_type: str,
        coverage: Decimal,
        term_start: dt.datetime,
        term_end: dt.datetime,
        out: dict[str, list[tuple]],
    ) -> None:
        rng, actors = self.rng, self.actors
        claim_type = rng.choice(CLAIM_TYPES_BY_POLICY[policy_type])
        amount = _cents(rng.randrange(5_000, min(int(coverage * 100), 15_000_000) + 1))
        incident = term_start + _seconds(rng.random() * (term_end - term_start).total_seconds())
        reported = self._after(incident, 14)
        status, path = rng.choices(self.outcomes, cum_weights=self.outcome_cum_weights)[0]
        claim_id = _uuid(rng)
        approved_amount = None
        if "approved" in path:
            approved_amount = min(
                amount, max(_cents(1), (amount * Decimal(rng.randrange(60, 101)) / 100).quantize(Decimal("0.01")))
            )
        handler = (
            actors.decider_for(approved_amount)
            if approved_amount is not None
            else rng.choice((actors.adjuster, actors.adjuster, actors.manager))
        )
        events = [
            (
                actors.adjuster.pk,
                ClaimEvent.Kind.CREATED,
                "",
                "pending",
                "",
                {"amount": str(amount), "reserve_indemnity": str(amount)},
                reported,
            )
        ]
        # The money (SPEC §10): the initial indemnity reserve of the claimed amount, as claim_create writes it.
        money = _ClaimMoney(claim_id)
        money.change(_uuid(rng), amount, "initial reserve", actors.adjuster.pk, reported)
        moment, previous = reported, "pending"
        decision_reason, processed, decided_by = "", None, None
        for step in path:
            moment = self._after(moment, 5)
            reason, data, actor = "", {}, handler
            if step == "approved":
                processed, decided_by, data = moment, handler, {"amount": str(approved_amount)}
            elif step == "denied":
                decision_reason = reason = rng.choice(DENIAL_REASONS)
                processed, decided_by = moment, handler
            elif step == "paid":
                moment, number = self._payment(claim_id, approved_amount, moment, money, events, out)
                actor = actors.finance
                reason = f"Indemnity paid in full (payment {number})."
                data = {"paid_indemnity": str(money.paid), "payment_number": number}
            elif step == "closed" and money.reserve:
                data = {"reserves_closed": {CostType.INDEMNITY.value: str(money.reserve)}}
                money.change(_uuid(rng), ZERO, "claim closed", handler.pk, moment)
            events.append((actor.pk, ClaimEvent.Kind.STATUS_CHANGED, previous, step, reason, data, moment))
            previous = step
            if step == "paid" and rng.random() < RECOVERY_SHARE:
                moment = self._recovery(claim_id, money, moment, events, out)
        out["claims"].append(
            (
                claim_id,
                self._number("CLM", self.claim_numbers),
                policy_id,
                customer_id,
                claim_type,
                amount,
                DESCRIPTIONS[claim_type],
                incident,
                reported,
                status,
                approved_amount,
                decision_reason,
                processed,
                handler.pk if path else None,
                actors.adjuster.pk,
                decided_by.pk if decided_by else None,
                money.reserve,
                ZERO,
                money.paid,
                ZERO,
                money.recovered,
                money.reserve + money.paid,
                money.reserve + money.paid - money.recovered,
                reported,
                moment,
            )
        )
        out["claim_events"].extend((claim_id, *event) for event in events)
        out["reserve_changes"].extend(money.changes)

    def _payment(
        self,
        claim_id: str,
        amount: Decimal,
        moment: dt.datetime,
        money: _ClaimMoney,
        events: list,
        out: dict[str, list[tuple]],
    ) -> tuple[dt.datetime, str]:
        """The approved amount paid to the policyholder in one payment, through the four-eyes workflow as the
        services run it: requested by the adjuster, approved at once or by a second user, issued by Finance (which
        erodes the reserve). Returns the moment it was issued and its number."""
        rng, actors = self.rng, self.actors
        requester = actors.adjuster
        four_eyes = amount > self.four_eyes_limit or (
            actors.adjuster_limit is not None and amount > actors.adjuster_limit
        )
        approver = actors.payment_approver(amount) if four_eyes else requester
        requested = moment
        approved = self._after(requested, 2) if four_eyes else requested
        issued = self._after(approved, 3)
        payment_id, number = _uuid(rng), self._number("PAY", self.payment_numbers)
        by_transfer = rng.random() < 0.8
        account = f"GB{rng.randrange(10, 99)}VNGD{rng.randrange(10**13, 10**14)}" if by_transfer else ""
        out["payments"].append(
            (
                payment_id,
                number,
                claim_id,
                CostType.INDEMNITY,
                amount,
                self.payee,
                account,
                True,
                PaymentMethod.BANK_TRANSFER if by_transfer else PaymentMethod.CHEQUE,
                "",
                PaymentStatus.ISSUED,
                requester.pk,
                requested,
                approver.pk,
                approved,
                actors.finance.pk,
                issued,
                None,
                None,
                "",
                None,
                None,
                "",
                self.key_id,
                requested,
                issued,
            )
        )
        data = {
            "payment_id": payment_id,
            "payment_number": number,
            "cost_type": CostType.INDEMNITY.value,
            "amount": str(amount),
        }
        events.append(
            (
                requester.pk,
                ClaimEvent.Kind.PAYMENT_REQUESTED,
                "",
                PaymentStatus.REQUESTED if four_eyes else PaymentStatus.APPROVED,
                "",
                {**data, "four_eyes": four_eyes},
                requested,
            )
        )
        if four_eyes:
            events.append(
                (
                    approver.pk,
                    ClaimEvent.Kind.PAYMENT_APPROVED,
                    PaymentStatus.REQUESTED,
                    PaymentStatus.APPROVED,
                    "",
                    data,
                    approved,
                )
            )
        events.append(
            (
                actors.finance.pk,
                ClaimEvent.Kind.PAYMENT_ISSUED,
                PaymentStatus.APPROVED,
                PaymentStatus.ISSUED,
                "",
                data,
                issued,
            )
        )
        money.change(_uuid(rng), money.reserve - amount, f"payment {number}", actors.finance.pk, issued)
        money.paid += amount
        return issued, number

    def _recovery(
        self, claim_id: str, money: _ClaimMoney, moment: dt.datetime, events: list, out: dict[str, list[tuple]]
    ) -> dt.datetime:
        """Money back on a paid claim: salvage or subrogation, a share of what was paid."""
        rng, finance = self.rng, self.actors.finance
        kind = RecoveryKind.SALVAGE if rng.random() < 0.6 else RecoveryKind.SUBROGATION
        share = Decimal(rng.randrange(5, 31)) / 100
        amount = max(_cents(1), (money.paid * share).quantize(Decimal("0.01")))
        received = self._after(moment, 20)
        recovery_id = _uuid(rng)
        source = rng.choice(SALVAGE_SOURCES if kind == RecoveryKind.SALVAGE else SUBROGATION_SOURCES)
        out["recoveries"].append((recovery_id, claim_id, kind, amount, source, "", received, finance.pk, received))
        events.append(
            (
                finance.pk,
                ClaimEvent.Kind.RECOVERY_RECORDED,
                "",
                "",
                "",
                {"recovery_id": recovery_id, "kind": kind.value, "amount": str(amount)},
                received,
            )
        )
        money.recovered += amount
        return received


def write_bench_ids(directory: Path, *, incident: dt.datetime = BENCH_INCIDENT) -> tuple[int, int]:
    """Write the id files the API benchmark reads: `customers.txt` (every live customer) and `policies.txt`
    (active or expired policies whose term contains `incident`, so a claim filed then is accepted).

    Returns (customers, policies) written. Streams from the database: fine at any volume.
    """
    if timezone.is_naive(incident):
        incident = timezone.make_aware(incident, dt.UTC)
    directory.mkdir(parents=True, exist_ok=True)
    customers = Customer.objects.filter(erased_at__isnull=True).order_by("pk").values_list("pk", flat=True)
    policies = (
        Policy.objects.filter(
            status__in=(Policy.Status.ACTIVE, Policy.Status.EXPIRED),
            start_date__lte=incident,
            end_date__gte=incident,
            coverage_amount__gte=BENCH_MIN_COVERAGE,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    counts = []
    for name, ids in (("customers.txt", customers), ("policies.txt", policies)):
        n = 0
        with (directory / name).open("w") as out:
            for pk in ids.iterator(chunk_size=5000):
                out.write(f"{pk}\n")
                n += 1
        counts.append(n)
    return counts[0], counts[1]


def volume_customers() -> models.QuerySet[Customer]:
    return Customer.objects.filter(email__endswith=f"@{VOLUME_DOMAIN}")


def seed_volume(
    *,
    target: int,
    actors: Actors,
    batch_size: int = 2000,
    random_seed: int | None = None,
    progress: Callable[[int], None] | None = None,
    now: dt.datetime | None = None,
    workers: int | None = None,
) -> VolumeResult:
    """Top the volume set up to `target` customers (with their policies, claims and events).

    On PostgreSQL, `workers` processes (default: one per core, or none below PARALLEL_ABOVE customers) build,
    encrypt and format the batches as COPY text while this process streams the finished ones to the database
    (module docstring); `workers=0` builds them here. One transaction for the whole load (_bulk_load) with a
    savepoint per batch: an error anywhere rolls everything back.
    """
    started = time.perf_counter()
    db = connections[DEFAULT_DB_ALIAS]
    existing = volume_customers()
    existing_count = existing.count()
    missing = max(0, target - existing_count)
    writers = {
        "customers": TableWriter(Customer, CUSTOMER_COLUMNS),
        "policies": TableWriter(Policy, POLICY_COLUMNS),
        "policy_events": TableWriter(PolicyEvent, ("policy_id", *EVENT_COLUMNS)),
        "claims": TableWriter(Claim, CLAIM_COLUMNS),
        "claim_events": TableWriter(ClaimEvent, ("claim_id", *EVENT_COLUMNS)),
        "reserve_changes": TableWriter(ReserveChange, RESERVE_COLUMNS),
        "payments": TableWriter(ClaimPayment, PAYMENT_COLUMNS),
        "recoveries": TableWriter(ClaimRecovery, RECOVERY_COLUMNS),
    }
    if missing:
        last = existing.order_by("-email").values_list("email", flat=True).first()
        first_index = int(last[1:8]) + 1 if last else 1
        generator = VolumeGenerator(
            actors=actors,
            now=now or timezone.now(),
            random_seed=random_seed,
            taken_policy_numbers=set(Policy.objects.values_list("policy_number", flat=True)),
            taken_claim_numbers=set(Claim.objects.values_list("claim_number", flat=True)),
            taken_payment_numbers=set(ClaimPayment.objects.values_list("payment_number", flat=True)),
        )
        batches = [
            range(first_index + offset, first_index + min(offset + batch_size, missing))
            for offset in range(0, missing, batch_size)
        ]
        if workers is None:
            workers = (os.cpu_count() or 1) if missing >= PARALLEL_ABOVE else 0
        with transaction.atomic(), _bulk_load(db, [w.model for w in writers.values()]):
            if db.vendor != "postgresql":
                for indexes in batches:
                    rows = generator.batch(indexes)
                    with transaction.atomic():
                        for name, writer in writers.items():
                            writer.write(writer.prepare(rows[name], db), db)
                    if progress:
                        progress(len(indexes))
            else:
                for indexes, formatted in _formatted_batches(generator, writers, batches, workers=workers):
                    with transaction.atomic():
                        for name, writer in writers.items():
                            writer.write_copy(*formatted[name], db)
                    if progress:
                        progress(len(indexes))
    return VolumeResult(
        created_customers=missing,
        existing_customers=existing_count,
        seconds=time.perf_counter() - started,
        tables=list(writers.values()),
    )


# What a forked worker builds from: set in the parent just before the pool forks, inherited, never pickled.
_WORKER_STATE: tuple[VolumeGenerator, dict[str, TableWriter]] | None = None


def _format_batch(indexes: range) -> tuple[range, dict[str, tuple[bytes, int]]]:
    """Build one batch and format every table's rows as COPY text: (payload, row count) per table."""
    generator, writers = _WORKER_STATE
    rows = generator.batch(indexes)
    return indexes, {name: (writer.format(rows[name]), len(rows[name])) for name, writer in writers.items()}


def _formatted_batches(
    generator: VolumeGenerator, writers: dict[str, TableWriter], batches: list[range], *, workers: int
) -> Iterator[tuple[range, dict[str, tuple[bytes, int]]]]:
    """Yield the formatted batches in order. With workers, at most two batches per worker are in flight (memory
    stays bounded however slow the database is); an error in a worker is re-raised here by `.get()`."""
    global _WORKER_STATE
    _WORKER_STATE = (generator, writers)
    try:
        if not workers:
            yield from map(_format_batch, batches)
            return
        # fork: the workers inherit the generator and never use the parent's connection (they exit with
        # os._exit, so its socket is not closed under the parent either).
        pool = multiprocessing.get_context("fork").Pool(workers)
        try:
            pending: collections.deque = collections.deque()
            todo = iter(batches)
            for indexes in itertools.islice(todo, 2 * workers):
                pending.append(pool.apply_async(_format_batch, (indexes,)))
            while pending:
                done = pending.popleft().get()
                if (indexes := next(todo, None)) is not None:
                    pending.append(pool.apply_async(_format_batch, (indexes,)))
                yield done
            # Every batch is in: the workers exit on their own. `with Pool()` would SIGTERM them instead, and a
            # worker whose inherited SIGTERM handler does not end it (coverage's, under the test suite) was then
            # waited for forever.
            pool.close()
        except BaseException:
            pool.terminate()  # an error or an abandoned load: stop the workers mid-batch
            raise
        finally:
            pool.join()
    finally:
        _WORKER_STATE = None


@contextlib.contextmanager
def _bulk_load(db: BaseDatabaseWrapper, loaded: list[type[models.Model]]) -> Iterator[None]:
    """On PostgreSQL, check foreign keys and build secondary indexes once, after the load, not row by row.

    The bulk-load advice of the PostgreSQL manual ("Populating a Database"), inside the caller's transaction:
    drop the loaded tables' foreign keys and plain (non-unique) indexes, copy the rows, then add them back with
    their exact definitions (`pg_get_constraintdef`/`pg_get_indexdef`). Adding a key validates every row in one
    join and building an index sorts once — far cheaper than a trigger query and a b-tree insert per row.
    Primary keys and unique indexes stay, so duplicates still fail at once. Nothing is ever committed without
    the keys and indexes: any failure, including a violation found when a key is added back, rolls the whole
    load back. The tables stay locked meanwhile (development and benchmark data only).
    """
    if db.vendor != "postgresql":
        yield
        return
    quote = db.ops.quote_name
    tables = [m._meta.db_table for m in loaded]
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY conrelid::regclass::text, conname",
            [tables],
        )
        keys = cursor.fetchall()
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisunique AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
            "ORDER BY 1",
            [tables],
        )
        indexes = cursor.fetchall()
        # The load is one long operator transaction: no per-statement timeout, room for the index sorts.
        cursor.execute("SET LOCAL statement_timeout = 0")
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        # ALTER TABLE refuses tables with deferred checks still queued in this transaction: run them now.
        # Django declares every foreign key DEFERRABLE INITIALLY DEFERRED, which the end of this block restores.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, name, _ in keys:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}")
        for index, _ in indexes:
            cursor.execute(f"DROP INDEX {index}")
    yield
    with db.cursor() as cursor:
        for _, definition in indexes:
            cursor.execute(definition)
        for table, name, definition in keys:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        # Fresh statistics for the planner (a sample, seconds at a million rows): until autovacuum gets to the
        # new rows it would plan the volume tables as if they were still empty.
        for table in tables:
            cursor.execute(f"ANALYZE {quote(table)}")
