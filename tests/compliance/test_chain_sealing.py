"""Deferred sealing of the audit chain (issue 13, goal 2; `compliance.chain`, "Sealing"): writers never take the
chain head; a sealer chains committed entries shortly after, within a bound."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from compliance import chain, tasks
from compliance.models import AuditEntry
from customers import services as customer_services
from tests import factories


def _create_customer(actor, tag: str) -> None:
    customer_services.customer_create(
        actor=actor,
        email=f"{tag}@example.test",
        first_name="Sea",
        last_name=f"Ler{tag}",
        gdpr_consent=True,
    )


def _skip_unless_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("deferred sealing runs on PostgreSQL")


@pytest.mark.django_db
def test_an_entry_is_written_pending_and_chained_by_the_sealer(superuser):
    # given
    _skip_unless_postgresql()
    _create_customer(superuser, "p1")
    _create_customer(superuser, "p2")

    # when: written, not yet sealed
    pending = list(AuditEntry.objects.filter(seq__isnull=True).order_by("pk"))
    before = chain.verify_chain()
    result = chain.seal_pending()

    # then: pending entries carry their pending seal and are not a break; the sealer chains them in one pass
    assert pending and all(e.prev_hash == "" and e.entry_hash == chain.pending_seal(e) for e in pending)
    assert before.ok and before.pending == len(pending) and before.entries == len(pending)
    assert result.sealed == [e.pk for e in pending] and result.refused == []
    entries = list(AuditEntry.objects.order_by("seq"))
    assert [e.seq for e in entries] == list(range(1, len(pending) + 1))
    assert not AuditEntry.objects.filter(seq__isnull=True).exists()
    after = chain.verify_chain()
    assert after.ok and after.pending == 0 and after.head_seq == len(pending)


@pytest.mark.django_db
@pytest.mark.parametrize("count", [2, 12])
def test_a_seal_pass_is_five_statements_however_many_entries_it_chains(superuser, count):
    # given some pending entries
    _skip_unless_postgresql()
    for n in range(count):
        _create_customer(superuser, f"q{count}-{n}")
    pending = AuditEntry.objects.filter(seq__isnull=True).count()
    # when a pass seals them
    with CaptureQueriesContext(connection) as captured:
        result = chain.seal_pending()
    # then: the lock, the head, the batch, the copy check and one UPDATE for every link (no per-row or per-column
    # CASE statement, and no second read of an empty batch), inside one savepoint of the test's transaction
    sql = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(result.sealed) == pending >= count
    assert len(sql) == 5, sql
    assert sql[-1].startswith('UPDATE "compliance_auditentry" AS entry SET seq = v.seq') and "CASE" not in sql[-1]
    assert chain.verify_chain().ok and not AuditEntry.objects.filter(seq__isnull=True).exists()


@pytest.mark.django_db
def test_a_link_write_skips_an_entry_another_sealer_already_chained(superuser):
    # given an entry chained behind the pass's back between its read and its write
    _skip_unless_postgresql()
    _create_customer(superuser, "r1")
    entry = AuditEntry.objects.filter(seq__isnull=True).order_by("pk").first()
    entry.seq, entry.prev_hash, entry.entry_hash = 1, chain.GENESIS, "f" * 64
    AuditEntry.objects.filter(pk=entry.pk).update(seq=7)
    # when the link is written, then the row is not rewritten and the count says so (the pass would roll back)
    assert chain._write_links(AuditEntry, [entry], "default") == 0
    assert AuditEntry.objects.get(pk=entry.pk).seq == 7


@pytest.mark.django_db
def test_an_entry_left_unsealed_beyond_the_bound_is_a_break(superuser, settings):
    # given
    _skip_unless_postgresql()
    settings.AUDIT_SEAL_BOUND_SECONDS = 60
    _create_customer(superuser, "late")
    pending = AuditEntry.objects.filter(seq__isnull=True).order_by("pk").first()

    # when
    within = chain.verify_chain(now=pending.timestamp + dt.timedelta(seconds=59))
    beyond = chain.verify_chain(now=pending.timestamp + dt.timedelta(seconds=61))

    # then
    assert within.ok
    assert not beyond.ok
    assert (beyond.first_break.kind, beyond.first_break.seq, beyond.first_break.entry_id) == (
        "unsealed",
        None,
        pending.pk,
    )
    assert "not sealed within 60 s" in str(beyond.first_break)


@pytest.mark.django_db
def test_an_entry_forged_as_pending_without_the_key_is_never_sealed(superuser):
    # given: a row inserted in SQL that looks pending, with a made-up seal
    _skip_unless_postgresql()
    chain.seal_pending()  # the fixtures' entries
    _create_customer(superuser, "genuine")
    genuine = AuditEntry.objects.get(seq__isnull=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO compliance_auditentry (content_type_id, object_pk, object_repr, action, changes_text, "
            "timestamp, salt, prev_hash, entry_hash) VALUES (%s, %s, 'forged', 1, '', now(), '', '', %s)",
            [genuine.content_type_id, genuine.object_pk, "a" * 64],
        )
    forged = AuditEntry.objects.get(object_repr="forged")

    # when
    result = chain.seal_pending()
    report = chain.verify_chain()

    # then
    assert result.sealed == [genuine.pk] and result.refused == [forged.pk]
    assert [(b.kind, b.seq, b.entry_id) for b in report.breaks] == [("altered", None, forged.pk)]


@pytest.mark.django_db
def test_inline_mode_seals_in_the_writing_transaction(superuser, settings):
    # given: the former behaviour (the default where there are no advisory locks, e.g. SQLite in development)
    chain.seal_pending()  # the fixtures' entries
    head = AuditEntry.objects.order_by("-seq").first()
    settings.AUDIT_CHAIN_SEALING = "inline"

    # when
    _create_customer(superuser, "inline")

    # then
    entry = AuditEntry.objects.order_by("-pk").first()
    assert entry.seq == head.seq + 1 and entry.prev_hash == head.entry_hash
    assert entry.entry_hash == chain.link_hash(head.entry_hash, chain.content_digest(entry))
    assert not AuditEntry.objects.filter(seq__isnull=True).exists()
    assert chain.verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_a_transaction_registers_one_after_commit_seal_however_many_entries_it_writes():
    # given
    _skip_unless_postgresql()
    actor = factories.UserFactory(superuser=True)
    chain.seal_pending()
    before = AuditEntry.objects.count()

    # when
    with transaction.atomic():
        _create_customer(actor, "one")
        _create_customer(actor, "two")
        # Django's pending on-commit list, (savepoint ids, callable, robust) tuples
        ours = [item for item in connection.run_on_commit if item[1] is chain._AFTER_COMMIT["default"]]

    # then: one seal after the commit, and it chained both entries
    assert len(ours) == 1
    assert AuditEntry.objects.count() == before + 2
    assert not AuditEntry.objects.filter(seq__isnull=True).exists()


@pytest.mark.django_db
def test_the_redaction_of_an_unsealed_entry_gives_it_a_new_pending_seal(superuser):
    # given: an entry committed by another transaction after the erasure sealed (so still pending)
    _skip_unless_postgresql()
    chain.seal_pending()  # the fixtures' entries
    _create_customer(superuser, "straggler")
    entry = AuditEntry.objects.filter(seq__isnull=True).order_by("pk").first()
    assert entry.seq is None

    # when
    redactions = chain.redact_entries([entry], needles=["Lerstraggler"])

    # then: rewritten, no redaction record (no link to vouch for), sealed and verifiable afterwards
    assert redactions == {}
    entry.refresh_from_db()
    assert "Lerstraggler" not in str(entry.changes) and entry.entry_hash == chain.pending_seal(entry)
    assert chain.seal_pending().sealed == [entry.pk]
    assert chain.verify_chain().ok


@pytest.mark.django_db
def test_redaction_does_not_launder_an_unsealed_entry_altered_before(superuser):
    # given
    _skip_unless_postgresql()
    chain.seal_pending()  # the fixtures' entries
    _create_customer(superuser, "launder")
    entry = AuditEntry.objects.filter(seq__isnull=True).order_by("pk").first()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_auditentry SET cid = 'forged' WHERE id = %s", [entry.pk])
    entry.refresh_from_db()

    # when
    chain.redact_entries([entry], needles=["Lerlaunder"])

    # then
    assert chain.seal_pending().refused == [entry.pk]
    assert chain.verify_chain().first_break.entry_id == entry.pk


# --- across transactions: real commits, real threads, a real process ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_writer_seals_after_its_commit_and_beat_seals_what_is_left(settings):
    # given
    _skip_unless_postgresql()
    actor = factories.UserFactory(superuser=True)

    # when: one write with the after-commit seal, one without (a process that died before it sealed)
    _create_customer(actor, "sealed-on-commit")
    sealed_at_once = not AuditEntry.objects.filter(seq__isnull=True).exists()
    settings.AUDIT_SEAL_ON_COMMIT = False
    _create_customer(actor, "left-for-beat")
    left = AuditEntry.objects.filter(seq__isnull=True).count()
    swept = tasks.seal_audit_chain.delay().get()

    # then
    assert sealed_at_once
    assert left >= 1 and swept == left
    assert not AuditEntry.objects.filter(seq__isnull=True).exists()
    report = chain.verify_chain()
    assert report.ok and report.entries == AuditEntry.objects.count()


@pytest.mark.django_db(transaction=True)
def test_a_writer_does_not_wait_for_another_writers_open_transaction():
    # given: writer A has written an audit entry and keeps its transaction open
    _skip_unless_postgresql()
    actor = factories.UserFactory(superuser=True)
    a_wrote, b_done = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def writer_a() -> None:
        try:
            with transaction.atomic():
                _create_customer(actor, "slow-a")
                a_wrote.set()
                outcome["b_finished_while_a_open"] = b_done.wait(timeout=8)
        except BaseException as exc:  # reported below
            outcome["a_error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer_a)
    thread.start()
    assert a_wrote.wait(timeout=10)

    # when: writer B writes and commits meanwhile
    started = time.monotonic()
    try:
        _create_customer(actor, "quick-b")
    finally:
        b_done.set()
    elapsed = time.monotonic() - started
    thread.join(timeout=20)

    # then: B neither queued behind A's transaction nor broke the chain (with the head held to commit, B waits
    # until A ends: here, until its 8 s wait times out)
    assert "a_error" not in outcome
    assert outcome["b_finished_while_a_open"] is True and elapsed < 5
    chain.seal_pending()
    report = chain.verify_chain()
    assert report.ok and report.pending == 0 and report.entries == AuditEntry.objects.count()


WRITERS = 32
WRITES_EACH = 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("after_commit", [False, True], ids=["sealers-only", "after-commit-and-sealers"])
def test_32_concurrent_writers_and_two_sealers_leave_one_chain_with_every_entry_sealed_once(settings, after_commit):
    # given
    _skip_unless_postgresql()
    settings.AUDIT_SEAL_ON_COMMIT = after_commit
    actor = factories.UserFactory(superuser=True)
    chain.seal_pending()
    before = AuditEntry.objects.count()
    barrier = threading.Barrier(WRITERS + 2)
    writing = threading.Event()
    errors: list[BaseException] = []
    sealed_by: list[list[int]] = [[], []]

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for k in range(WRITES_EACH):
                _create_customer(actor, f"w{n}-{k}")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def sealer(slot: int) -> None:
        try:
            barrier.wait()
            while not writing.is_set():
                sealed_by[slot] += chain.seal_pending().sealed  # both wait for the head in turn
            sealed_by[slot] += chain.seal_pending().sealed
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    # when
    sealers = [threading.Thread(target=sealer, args=(slot,)) for slot in range(2)]
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in sealers + writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    writing.set()
    for thread in sealers:
        thread.join(timeout=60)

    # then: no error, no entry lost or left unsealed, one unbroken chain without a fork
    assert errors == []
    entries = list(AuditEntry.objects.order_by("seq").values_list("pk", "seq", "prev_hash"))
    assert len(entries) == before + WRITERS * WRITES_EACH
    assert [seq for _, seq, _ in entries] == list(range(1, len(entries) + 1))
    assert len({prev for _, _, prev in entries}) == len(entries)
    report = chain.verify_chain()
    assert report.ok, report.first_break
    assert report.entries == len(entries) and report.pending == 0
    # every entry sealed exactly once: the two sealers' passes never overlap, and (without the writers' own
    # after-commit seals) together they sealed every new entry
    both = sealed_by[0] + sealed_by[1]
    assert len(both) == len(set(both))
    if not after_commit:
        assert set(both) == {pk for pk, seq, _ in entries if seq > before}


KILLED_WRITER = """
import os, time
from auditlog.context import set_actor
from customers import services
from vanguard.accounts.models import User

actor = User.objects.get(pk=os.environ["WRITER_ACTOR"])
with set_actor(actor):
    for n in range(10_000):
        services.customer_create(actor=actor, email=f"killed{n}@example.test", first_name="Kil",
                                 last_name=f"Led{n}", gdpr_consent=True)
        print(f"committed {n}", flush=True)
        time.sleep(0.02)
"""


@pytest.mark.django_db(transaction=True)
def test_a_writer_killed_between_its_commits_and_the_sealing_loses_nothing(tmp_path):
    # given: a separate process writing audited changes with its own sealing off (it dies before sealing)
    _skip_unless_postgresql()
    from customers.models import Customer
    from tests.ops.conftest import REPO, base_env, database_url_of_test_db

    actor = factories.UserFactory(superuser=True)
    chain.seal_pending()
    sealed_before = AuditEntry.objects.count()
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    env = base_env(
        DATABASE_URL=database_url_of_test_db(),
        AUDIT_SEAL_ON_COMMIT="false",
        DB_POOL="false",
        WRITER_ACTOR=str(actor.pk),
    )
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, str(REPO / "manage.py"), "shell", "-c", f"exec(open({str(script)!r}).read())"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        committed = 0
        deadline = time.monotonic() + 60
        while committed < 5 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed += line.startswith("committed ")
        assert committed >= 5, proc.stderr.read()[-2000:]

        # when: kill -9 in the middle of its writing, then a sealer elsewhere runs
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    written = list(Customer.objects.filter(last_name__startswith="Led").values_list("pk", flat=True))
    pending = AuditEntry.objects.filter(seq__isnull=True).count()
    result = chain.seal_pending()

    # then: every committed write has its audit entry, all of them now chained, the chain intact
    assert proc.returncode == -signal.SIGKILL
    assert len(written) >= committed and pending >= len(written)
    assert len(result.sealed) == pending and result.refused == []
    audited = set(
        AuditEntry.objects.filter(
            object_pk__in=[str(pk) for pk in written], action=AuditEntry.Action.CREATE
        ).values_list("object_pk", flat=True)
    )
    assert audited == {str(pk) for pk in written}
    report = chain.verify_chain()
    assert report.ok, report.first_break
    assert report.pending == 0 and report.entries == AuditEntry.objects.count() == sealed_before + pending


_COPY = (
    "INSERT INTO compliance_auditentry (content_type_id, object_pk, object_id, object_repr, serialized_data, action, "
    "changes_text, changes, actor_id, actor_email, remote_addr, remote_port, timestamp, additional_data, cid, seq, "
    "salt, prev_hash, entry_hash) SELECT content_type_id, object_pk, object_id, object_repr, serialized_data, action, "
    "changes_text, changes, actor_id, actor_email, remote_addr, remote_port, timestamp, additional_data, cid, seq, "
    "salt, prev_hash, entry_hash FROM compliance_auditentry WHERE id = %s RETURNING id"
)


@pytest.mark.django_db
def test_a_copy_of_an_unsealed_entry_is_refused_by_the_database(superuser):
    # given: a genuine pending entry, whose seal a verbatim copy would carry too
    _skip_unless_postgresql()
    from django.db import IntegrityError

    chain.seal_pending()  # the fixtures' entries
    _create_customer(superuser, "replayed")
    original = AuditEntry.objects.get(seq__isnull=True)

    # when / then
    with (
        pytest.raises(IntegrityError, match="compliance_auditentry_salt_unique"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(_COPY, [original.pk])


@pytest.mark.django_db
def test_a_copy_of_an_unsealed_entry_is_never_chained_and_is_reported_even_without_the_constraint(superuser):
    # given: the forger dropped the constraint, then replayed a pending entry
    _skip_unless_postgresql()
    chain.seal_pending()  # the fixtures' entries
    _create_customer(superuser, "replayed")
    original = AuditEntry.objects.get(seq__isnull=True)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test transaction's deferred checks, before DDL
        cursor.execute("DROP INDEX compliance_auditentry_salt_unique")  # a partial unique index in PostgreSQL
        cursor.execute(_COPY, [original.pk])
        copy_id = cursor.fetchone()[0]

    # when
    result = chain.seal_pending()
    report = chain.verify_chain()

    # then: the original is chained, the copy is not, and the verifier names it
    assert result.sealed == [original.pk] and result.refused == [copy_id]
    assert [(b.kind, b.seq, b.entry_id) for b in report.breaks] == [("inserted", None, copy_id)]
    assert "a copy of entry #" in report.first_break.detail


@contextlib.contextmanager
def _recorded_seals():
    """Every seal_pending pass while the block runs, as (thread name, ids sealed); the real sealer does the work."""
    passes: list[tuple[str, list[int]]] = []
    real_seal = chain.seal_pending

    def recording_seal(**kwargs):
        result = real_seal(**kwargs)
        passes.append((threading.current_thread().name, result.sealed))
        return result

    chain.seal_pending = recording_seal
    try:
        yield passes
    finally:
        chain.seal_pending = real_seal


def _wait_until_sealed(timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while AuditEntry.objects.filter(seq__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_with_the_sealer_thread_the_committing_thread_does_not_seal_and_the_entry_is_chained_soon(superuser, settings):
    # given: the production default, the after-commit seal on the process's sealer thread
    _skip_unless_postgresql()
    settings.AUDIT_SEAL_IN_THREAD = True
    with _recorded_seals() as passes:
        # when
        _create_customer(superuser, "t1")
        _wait_until_sealed()
    # then: sealed, by the sealer thread only, and the chain verifies
    assert not AuditEntry.objects.filter(seq__isnull=True).exists()
    assert passes and {thread for thread, _ in passes} == {"audit-sealer-default"}
    assert chain._sealer_threads["default"].is_alive()
    assert chain.verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_the_sealer_thread_chains_the_commits_of_its_delay_window_in_one_pass(superuser, settings):
    # given: the sealer thread, waiting a second after a wake-up (long enough for three writes on any machine)
    _skip_unless_postgresql()
    settings.AUDIT_SEAL_IN_THREAD = True
    settings.AUDIT_SEAL_DELAY_SECONDS = 1.0
    before = set(AuditEntry.objects.values_list("pk", flat=True))
    with _recorded_seals() as passes:
        # when: three writes commit one after the other, each waking the sealer
        for name in ("w1", "w2", "w3"):
            _create_customer(superuser, name)
        written = set(AuditEntry.objects.values_list("pk", flat=True)) - before
        _wait_until_sealed()
    # then: one pass chained every entry of the three commits, and the chain verifies
    assert not AuditEntry.objects.filter(seq__isnull=True).exists()
    assert len(written) >= 3 and len(passes) == 1 and set(passes[0][1]) == written
    assert chain.verify_chain().ok
