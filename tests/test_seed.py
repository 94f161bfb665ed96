"""manage.py seed: idempotent demo data, demo logins, the development-only reset and valid volume data."""

from __future__ import annotations

import datetime as dt
import io
import os
import pickle
import re
import signal
import subprocess
import sys
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F
from django.utils import timezone

from claims.financials.verify import verify_claim_financials
from claims.models import Claim, ClaimDocument, ClaimEvent, ClaimPayment, ClaimRecovery, ReserveChange
from claims.services import claim_create
from customers import pii
from customers.models import Customer
from policies.models import Policy, PolicyEvent
from policies.services import minimum_premium
from tests import factories
from tests.ops.conftest import REPO
from vanguard.accounts import roles
from vanguard.accounts.authority import authority_limit
from vanguard.accounts.models import User
from vanguard.seeding import reset, staff, volume
from vanguard.seeding.volume import BENCH_INCIDENT, VOLUME_DOMAIN, volume_customers

COUNTED = (
    User,
    Customer,
    Policy,
    PolicyEvent,
    Claim,
    ClaimEvent,
    ClaimDocument,
    ReserveChange,
    ClaimPayment,
    ClaimRecovery,
)
# The claim events that move a claim's status (the money's events come between them).
STATUS_KINDS = (ClaimEvent.Kind.CREATED, ClaimEvent.Kind.STATUS_CHANGED)
LOGIN_LINE = re.compile(r"^\s+(\S+@vanguard\.local)\s+(\S+)$", re.MULTILINE)


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed", *args, stdout=out, stderr=io.StringIO(), verbosity=0)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


@pytest.mark.django_db
def test_seed_twice_leaves_the_same_data():
    # given
    seed()
    first = counts()
    numbers = set(Policy.objects.values_list("policy_number", flat=True))
    # when
    output = seed()
    # then
    assert counts() == first
    assert set(Policy.objects.values_list("policy_number", flat=True)) == numbers
    assert "nothing to add" in output
    assert first["Customer"] == len(set(Customer.objects.values_list("email", flat=True)))
    assert first["User"] == len(set(User.objects.values_list("email", flat=True)))


@pytest.mark.django_db
def test_demo_covers_every_policy_type_and_status_and_every_claim_status():
    # when
    seed()
    # then
    assert set(Policy.objects.values_list("policy_type", flat=True)) == set(Policy.PolicyType.values)
    assert set(Policy.objects.values_list("status", flat=True)) == set(Policy.Status.values)
    assert Policy.objects.filter(renewal_of__isnull=False).exists()
    assert set(Claim.objects.values_list("status", flat=True)) == set(Claim.Status.values)
    assert {"image/png", "application/pdf"} <= set(ClaimDocument.objects.values_list("mime_type", flat=True))
    # and the money (SPEC §10.5): reserves, payments in every status, a four-eyes approval, a void, a recovery
    assert set(ClaimPayment.objects.values_list("status", flat=True)) == set(ClaimPayment.Status.values)
    assert ClaimPayment.objects.filter(status="issued").exclude(approved_by=F("requested_by")).exists()
    assert ClaimPayment.objects.filter(status="voided").exclude(void_reason="").exists()
    assert ClaimRecovery.objects.exists()
    assert ReserveChange.objects.exclude(reason="initial reserve").filter(cost_type="expense").exists()
    assert ReserveChange.objects.filter(reason="claim closed").exists()
    assert verify_claim_financials() == []
    for document in ClaimDocument.objects.all():
        with document.file.open("rb") as handle:
            assert len(handle.read()) == document.file_size


@pytest.mark.django_db
def test_demo_is_written_through_the_services_with_events_and_audit():
    # when
    seed()
    # then every transition left its event, and the rows have audit entries naming the seeding superuser
    for claim in Claim.objects.exclude(status=Claim.Status.PENDING):
        last = claim.events.filter(kind=ClaimEvent.Kind.STATUS_CHANGED).order_by("-id").first()
        assert last is not None and last.to_status == claim.status
    cancelled = Policy.objects.get(status=Policy.Status.CANCELLED)
    assert cancelled.events.filter(kind=PolicyEvent.Kind.CANCELLED).exists()
    from compliance.models import AuditEntry

    entries = AuditEntry.objects.filter(object_pk=str(cancelled.pk))
    assert entries.exists()
    assert {entry.actor.email for entry in entries} == {staff.SUPERUSER_EMAIL}


@pytest.mark.django_db
def test_each_demo_login_authenticates_with_its_role():
    # given
    output = seed()
    passwords = dict(LOGIN_LINE.findall(output))
    # then
    assert set(passwords) == {spec.email for spec in staff.DEMO_STAFF}
    for spec in staff.DEMO_STAFF:
        user = authenticate(username=spec.email, password=passwords[spec.email])
        assert user is not None, spec.email
        assert user.is_staff and user.is_active
        if spec.role is None:
            assert user.is_superuser
        else:
            assert list(user.groups.values_list("name", flat=True)) == [spec.role]
    adjuster = User.objects.get(email="adjuster@vanguard.local")
    assert adjuster.has_perm("claims.decide_claim") and not adjuster.has_perm("policies.change_policy")
    finance = User.objects.get(email="finance@vanguard.local")
    assert finance.has_perm("claims.issue_payment") and not finance.has_perm("claims.approve_payment")


@pytest.mark.django_db
def test_passwords_are_printed_only_when_created(monkeypatch):
    # given: scripts/run serving on another port (it exports PORT)
    monkeypatch.setenv("PORT", "8123")
    first = seed()
    # when
    second = seed()
    # then
    assert LOGIN_LINE.findall(first)
    assert "Sign in at http://127.0.0.1:8123/admin/" in first  # the address the server really listens on
    assert not LOGIN_LINE.findall(second)
    assert "passwords" not in second


@pytest.mark.django_db
def test_seed_restores_a_removed_role_group():
    # given
    seed()
    underwriter = User.objects.get(email="underwriter@vanguard.local")
    underwriter.groups.clear()
    # when
    seed()
    # then
    assert list(underwriter.groups.values_list("name", flat=True)) == [roles.UNDERWRITER]


@pytest.mark.django_db
@pytest.mark.parametrize("environment", ["production", "staging"])
def test_reset_is_refused_outside_development(settings, environment):
    # given
    seed()
    before = counts()
    settings.DJANGO_ENV = environment
    # when / then
    with pytest.raises(CommandError, match="refused when DJANGO_ENV is"):
        seed("--reset")
    assert counts() == before


@pytest.mark.django_db
def test_seed_is_refused_in_production(settings):
    # given
    settings.DJANGO_ENV = "production"
    # when / then
    with pytest.raises(CommandError, match="refused"):
        seed()
    assert not User.objects.filter(email=staff.SUPERUSER_EMAIL).exists()
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_reset_wipes_domain_data_and_seeds_again(settings):
    # given
    settings.DJANGO_ENV = "development"
    seed()
    before = counts()
    stray = factories.ClaimFactory()
    old_numbers = set(Policy.objects.values_list("policy_number", flat=True))
    # when
    output = seed("--reset")
    # then
    assert counts() == before
    assert not Customer.objects.filter(pk=stray.policy.customer_id).exists()
    assert not set(Policy.objects.values_list("policy_number", flat=True)) & old_numbers
    assert not LOGIN_LINE.findall(output), "staff users survive a reset; their passwords are not reprinted"


@pytest.mark.django_db
def test_volume_customers_are_valid_and_encrypted():
    # when
    output = seed("--no-demo", "--customers", "50", "--random-seed", "7")
    # then
    customers = list(volume_customers())
    assert len(customers) == 50
    assert "rows/s" in output
    for customer in customers:
        customer.full_clean()
        assert customer.email.endswith(f"@{VOLUME_DOMAIN}") and customer.gdpr_consent
        assert customer.ssn_hash == pii.ssn_hash(customer.ssn)
        assert customer.data_retention_date > timezone.now()
    _assert_encrypted_at_rest(customers)
    _assert_policies_and_claims_follow_the_rules()
    _assert_payee_accounts_encrypted_at_rest()


def _assert_payee_accounts_encrypted_at_rest() -> None:
    payments = {p.pk: p.payee_account for p in ClaimPayment.objects.all()}
    assert any(payments.values())
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, payee_account FROM claims_claimpayment")
        for payment_id, raw in cursor.fetchall():
            clear = payments[uuid.UUID(str(payment_id))]
            assert bytes(raw)[:1] == b"\x80" and (not clear or clear.encode() not in bytes(raw))


def _assert_encrypted_at_rest(customers: list[Customer]) -> None:
    by_id = {customer.pk: customer for customer in customers}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, phone, date_of_birth, address, ssn FROM customers_customer WHERE email LIKE %s",
            [f"%@{VOLUME_DOMAIN}"],
        )
        rows = cursor.fetchall()
    assert len(rows) == len(customers)
    for customer_id, *raw_columns in rows:
        customer = by_id[uuid.UUID(str(customer_id))]
        clear = [customer.phone, customer.date_of_birth, customer.address, customer.ssn]
        assert all(clear[:3])
        for raw, plaintext in zip(raw_columns, clear, strict=True):
            raw = bytes(raw)
            assert raw, "even an empty value is stored encrypted"
            if plaintext:
                assert pickle.dumps(plaintext) not in raw and str(plaintext).encode() not in raw


def _assert_policies_and_claims_follow_the_rules() -> None:
    now = timezone.now()
    policies = list(Policy.objects.filter(customer__email__endswith=f"@{VOLUME_DOMAIN}"))
    assert policies
    for policy in policies:
        policy.full_clean()
        assert policy.premium_amount >= minimum_premium(policy.policy_type)
        assert policy.events.filter(kind=PolicyEvent.Kind.CREATED).count() == 1
        if policy.status == Policy.Status.PENDING:
            assert policy.start_date > now
        if policy.status == Policy.Status.EXPIRED:
            assert policy.end_date < now
        if policy.renewal_of_id:
            assert policy.start_date == policy.renewal_of.end_date
            assert policy.customer_id == policy.renewal_of.customer_id
    claims = list(Claim.objects.select_related("policy", "decided_by").filter(policy__in=policies))
    assert claims
    for claim in claims:
        claim.full_clean()
        policy = claim.policy
        assert policy.status in Policy.CLAIMABLE_STATUSES
        assert policy.start_date <= claim.incident_date <= min(policy.end_date, now)
        assert claim.claim_amount <= policy.coverage_amount
        if claim.approved_amount is not None:
            limit = authority_limit(claim.decided_by)
            assert claim.approved_amount <= claim.claim_amount and (limit is None or claim.approved_amount <= limit)
        events = list(claim.events.filter(kind__in=STATUS_KINDS).order_by("id"))
        assert events[0].kind == ClaimEvent.Kind.CREATED
        assert (events[-1].to_status or "pending") in {claim.status, "pending"}
        if claim.status != Claim.Status.PENDING:
            assert events[-1].to_status == claim.status and claim.assigned_to_id is not None
    _assert_the_money_follows_the_rules(claims)


def _assert_the_money_follows_the_rules(claims: list[Claim]) -> None:
    """SPEC §10: an initial reserve on every claim, each paid claim paid by an issued payment of its approved amount
    under four eyes, the reserves of closed claims closed, and stored totals that agree with the rows."""
    assert verify_claim_financials() == []
    by_claim = {claim.pk: claim for claim in claims}
    initial = set(
        ReserveChange.objects.filter(claim__in=claims, reason="initial reserve", previous_amount=0).values_list(
            "claim_id", flat=True
        )
    )
    assert initial == set(by_claim)
    payments = list(ClaimPayment.objects.select_related("requested_by", "approved_by").filter(claim__in=claims))
    paid = {pk for pk, claim in by_claim.items() if claim.status == Claim.Status.PAID}
    assert paid and paid <= {payment.claim_id for payment in payments}
    four_eyes = 0
    for payment in payments:
        claim = by_claim[payment.claim_id]
        assert (payment.status, payment.cost_type, payment.amount) == ("issued", "indemnity", claim.approved_amount)
        assert payment.payee_is_policyholder and payment.payee_name == claim.policy.customer.full_name
        assert payment.requested_at <= payment.approved_at <= payment.issued_at
        if payment.amount > settings.PAYMENT_FOUR_EYES_LIMIT:
            four_eyes += 1
            limit = authority_limit(payment.approved_by)
            assert payment.approved_by != payment.requested_by and (limit is None or payment.amount <= limit)
        else:
            assert payment.approved_by == payment.requested_by
        kinds = list(
            claim.events.filter(data__payment_id=str(payment.pk)).order_by("id").values_list("kind", flat=True)
        )
        assert kinds == [
            "payment_requested",
            *(["payment_approved"] * (payment.approved_by != payment.requested_by)),
            "payment_issued",
        ]
    assert four_eyes
    for claim in claims:
        if claim.status == Claim.Status.CLOSED:
            assert claim.reserve_indemnity == 0


@pytest.mark.django_db
def test_volume_tops_up_to_the_requested_number():
    # given
    seed("--no-demo", "--customers", "20")
    # when
    again = seed("--no-demo", "--customers", "20")
    seed("--no-demo", "--customers", "30")
    # then
    assert "nothing to add" in again
    assert volume_customers().count() == 30
    assert len(set(volume_customers().values_list("email", flat=True))) == 30


def _volume_book() -> dict[str, list[tuple]]:
    """Everything the volume seed decided, decrypted, keyed by what does not depend on how it was built."""
    customers = volume_customers().order_by("email")
    policies = Policy.objects.filter(customer__in=customers).order_by("policy_number")
    return {
        "customers": [
            (c.email, c.first_name, c.last_name, c.phone, c.date_of_birth, c.address, c.ssn, c.ssn_hash, c.created_at)
            for c in customers
        ],
        "policies": list(
            policies.values_list(
                "policy_number",
                "customer__email",
                "policy_type",
                "premium_amount",
                "coverage_amount",
                "start_date",
                "end_date",
                "status",
                "renewal_of__policy_number",
            )
        ),
        "claims": list(
            Claim.objects.filter(policy__in=policies)
            .order_by("claim_number")
            .values_list(
                "claim_number", "policy__policy_number", "claim_amount", "status", "approved_amount", "incident_date"
            )
        ),
        "events": sorted(
            PolicyEvent.objects.filter(policy__in=policies).values_list(
                "policy__policy_number", "kind", "to_status", "created_at"
            )
        ),
        "payments": [
            (
                p.payment_number,
                p.claim.claim_number,
                p.amount,
                p.status,
                p.payee_name,
                p.payee_account,
                p.approved_by_id,
                p.issued_at,
            )
            for p in ClaimPayment.objects.filter(claim__policy__in=policies)
            .select_related("claim")
            .order_by("payment_number")
        ],
        "reserves": sorted(
            ReserveChange.objects.filter(claim__policy__in=policies).values_list(
                "claim__claim_number", "created_at", "previous_amount", "new_amount", "reason"
            )
        ),
        "recoveries": sorted(
            ClaimRecovery.objects.filter(claim__policy__in=policies).values_list(
                "claim__claim_number", "kind", "amount", "source", "received_at"
            )
        ),
    }


@pytest.mark.django_db
def test_worker_processes_write_the_same_volume_book_as_one_process():
    # given: the same seed and day, built by two worker processes, then again in this process
    args = ("--no-demo", "--customers", "150", "--batch-size", "20", "--random-seed", "11", "--as-of", "2026-01-15")
    books = {}
    for workers in ("2", "0"):
        seed(*args, "--workers", workers)
        books[workers] = _volume_book()
        _assert_encrypted_at_rest(list(volume_customers()))
        reset.wipe_domain_data()
    # then: batches do not depend on which process built them, nor numbers on what another batch drew
    assert len(books["2"]["customers"]) == 150 and books["2"]["claims"] and books["2"]["payments"]
    assert books["2"] == books["0"]


@pytest.mark.django_db
def test_a_batch_without_payments_formats_to_nothing():
    # given: the payments' writer (an encrypted column) and a batch whose claims paid nothing
    writer = volume.TableWriter(ClaimPayment, volume.PAYMENT_COLUMNS)

    # when / then
    assert writer.format([]) == b""


def test_reference_numbers_of_distinct_slots_never_collide():
    numbers = {volume._scramble32(slot) for slot in range(0, 2_000_000)}
    assert len(numbers) == 2_000_000


@pytest.mark.django_db
def test_ids_dir_lists_customers_and_the_policies_that_accept_the_bench_claim(tmp_path):
    # given: one policy of each kind around the bench's incident moment (2024-06-15T10:30Z)
    covering = {
        "start_date": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        "end_date": dt.datetime(2024, 12, 31, tzinfo=dt.UTC),
    }
    active = factories.PolicyFactory(**covering)
    expired = factories.PolicyFactory(**covering, status=Policy.Status.EXPIRED)
    factories.PolicyFactory(**covering, cancelled=True)
    factories.PolicyFactory(**covering, status=Policy.Status.INACTIVE)
    factories.PolicyFactory(
        start_date=dt.datetime(2024, 7, 1, tzinfo=dt.UTC), end_date=dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
    )
    factories.PolicyFactory(**covering, coverage_amount=Decimal("99.99"))
    erased = factories.CustomerFactory(erased_at=timezone.now())
    # when
    out = seed("--no-demo", "--ids-dir", str(tmp_path / "ids"))
    # then
    customers = (tmp_path / "ids" / "customers.txt").read_text().split()
    policies = (tmp_path / "ids" / "policies.txt").read_text().split()
    assert sorted(policies) == sorted([str(active.pk), str(expired.pk)])
    assert set(customers) == {str(pk) for pk in Customer.objects.exclude(pk=erased.pk).values_list("pk", flat=True)}
    assert "2 claimable policies" in out
    # and every listed policy accepts the bench's claim through the service
    adjuster = User.objects.get(email=next(s.email for s in staff.DEMO_STAFF if s.role == roles.CLAIMS_ADJUSTER))
    for pk in policies:
        claim = claim_create(
            actor=adjuster,
            policy_id=uuid.UUID(pk),
            claim_type="accident",
            claim_amount=Decimal("100.00"),
            incident_date=BENCH_INCIDENT,
        )
        assert claim.status == Claim.Status.PENDING


@pytest.mark.django_db
def test_as_of_writes_the_volume_book_as_of_a_past_day_and_refuses_the_future():
    # given
    as_of = dt.datetime(2024, 12, 31, tzinfo=dt.UTC)
    # when
    seed("--no-demo", "--customers", "30", "--random-seed", "3", "--as-of", "2024-12-31")
    # then: nothing happened after that day, and the book is as valid as ever
    policies = Policy.objects.filter(customer__in=volume_customers())
    assert policies.exists()
    assert not policies.filter(created_at__gt=as_of).exists()
    assert not Claim.objects.filter(policy__in=policies, reported_date__gt=as_of).exists()
    assert not Customer.objects.filter(pk__in=volume_customers(), created_at__gt=as_of).exists()
    with pytest.raises(CommandError, match="must not be in the future"):
        seed("--no-demo", "--customers", "31", "--as-of", (timezone.now() + dt.timedelta(days=1)).isoformat())


@pytest.mark.django_db
def test_negative_customer_count_is_refused():
    with pytest.raises(CommandError):
        seed("--customers", "-1")


LOADED_TABLES = [
    "customers_customer",
    "policies_policy",
    "policies_policyevent",
    "claims_claim",
    "claims_claimevent",
    "claims_reservechange",
    "claims_claimpayment",
    "claims_claimrecovery",
]


def _foreign_keys() -> set[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])",
            [LOADED_TABLES],
        )
        return set(cursor.fetchall())


def _indexes() -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [LOADED_TABLES])
        return set(cursor.fetchall())


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bulk load drops and re-adds keys on PostgreSQL")
def test_volume_after_demo_in_one_transaction_keeps_every_foreign_key_and_index():
    # given: the demo's rows (with deferred key checks still queued in this test's transaction)
    keys, indexes = _foreign_keys(), _indexes()
    assert len(keys) >= 10 and len(indexes) >= 20
    # when
    seed("--customers", "5")
    # then
    assert _foreign_keys() == keys
    assert _indexes() == indexes
    assert volume_customers().count() == 5 and Customer.objects.count() > 5


@pytest.mark.django_db
def test_the_volume_load_leaves_fresh_planner_statistics():
    # when
    seed("--no-demo", "--customers", "40", "--random-seed", "5")
    # then: ANALYZE ran in the load's transaction (autovacuum cannot see uncommitted rows)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'customers_customer'::regclass")
        assert cursor.fetchone()[0] == Customer.objects.count()


WORKERS_ENDING_ON_THEIR_OWN = """
import signal, django
django.setup()
from vanguard.seeding import volume

class Generator:
    def batch(self, indexes):
        return {"rows": list(indexes)}

class Writer:
    def format(self, rows):
        return ",".join(map(str, rows)).encode()

# The workers inherit a SIGTERM handler that notes the signal and does not end the process (coverage's, in a
# forked worker under the suite, did not end it either).
import os, sys
terms = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
signal.signal(signal.SIGTERM, lambda signum, frame: os.write(terms, b"T"))
# ... and take a moment to exit once their work is done, so they are still there when the pool's exit looks.
import time
import multiprocessing.util as mp_util
mp_util.register_after_fork(volume, lambda _: mp_util.Finalize(None, time.sleep, args=(0.5,), exitpriority=0))
done = list(volume._formatted_batches(Generator(), {"rows": Writer()}, [range(n, n + 3) for n in range(0, 30, 3)],
                                      workers=2))
print("BATCHES", len(done), done[-1][1]["rows"][0].decode())
"""


def test_volume_workers_end_on_their_own_once_every_batch_is_in(tmp_path):
    # given: worker processes that a SIGTERM would not stop (`with Pool()` SIGTERMs its workers on exit and then
    # waits for them: the suite once hung there)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "vanguard.settings"}
    terms = tmp_path / "sigterms"
    # when
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", WORKERS_ENDING_ON_THEIR_OWN, str(terms)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the volume seed's worker pool never ended: it waited for workers it had told to stop")
    # then: every batch formatted, in order, the process ended, and no worker had to be told to stop
    assert proc.returncode == 0, err[-2000:]
    assert "BATCHES 10 27,28,29" in out
    assert not terms.exists() or terms.read_bytes() == b""
