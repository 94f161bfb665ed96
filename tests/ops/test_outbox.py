"""The transactional outbox (vanguard/outbox): notifications written with the change, never a broker call in the
request, sent once Redis is back, never twice by concurrent drains, retried with backoff when they fail."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time
from unittest import mock

import pytest
from celery.signals import before_task_publish
from django.conf import settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connection, transaction
from django.utils import timezone

from claims import services as claim_services
from claims.models import Claim
from policies import services as policy_services
from tests import factories
from tests.ops.conftest import OPS_REDIS_URL, REPO, base_env, database_url_of_test_db, free_port, stop_process, wait_for
from vanguard.celery import app as celery_app
from vanguard.core.errors import TransitionNotAllowed
from vanguard.core.request_context import request_id_var
from vanguard.outbox import services as outbox
from vanguard.outbox.models import OutboxMessage

NOTIFY_CLAIM = "claims.tasks.notify_claim_status"


@pytest.fixture
def with_broker():
    """The app as it runs with a broker configured (not eager), on the in-memory transport tests use; every
    message the process publishes is recorded by Celery's own publish signal."""
    published: list[str] = []

    def record(sender=None, **kwargs):
        published.append(sender)

    before_task_publish.connect(record, weak=False)
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield published
    finally:
        celery_app.conf.task_always_eager = eager
        before_task_publish.disconnect(record)


def _subjects() -> list[str]:
    return sorted(message.subject for message in mail.outbox)


# --- written with the change --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_claim_transition_writes_one_outbox_row_of_ids_in_its_transaction(
    superuser, django_capture_on_commit_callbacks
):
    # given
    claim = factories.ClaimFactory()
    customer = claim.policy.customer
    # when: the transition's transaction, before its commit
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        claim_services.claim_start_processing(actor=superuser, claim_id=claim.pk)
        [message] = OutboxMessage.objects.all()
        assert mail.outbox == []
    # then: one row naming the task with the claim's id only: no personal data in the table
    assert (message.task, message.kwargs, message.attempts) == (NOTIFY_CLAIM, {"claim_id": str(claim.pk)}, 0)
    row = str(OutboxMessage.objects.filter(pk=message.pk).values().get())
    assert customer.email not in row and customer.last_name not in row
    # and without a broker (development, the tests' default) the commit drains it in-process
    for callback in callbacks:
        callback()
    [sent] = mail.outbox
    assert customer.email in sent.to and OutboxMessage.objects.count() == 0


@pytest.mark.django_db
def test_a_rolled_back_or_refused_transition_writes_no_outbox_row(superuser):
    # given
    claim = factories.ClaimFactory()
    closed = factories.ClaimFactory(status=Claim.Status.CLOSED)
    # when: the caller's transaction rolls back after the service ran, and a transition is refused
    with pytest.raises(RuntimeError), transaction.atomic():
        claim_services.claim_start_processing(actor=superuser, claim_id=claim.pk)
        assert OutboxMessage.objects.count() == 1
        raise RuntimeError("the caller fails after the service")
    with pytest.raises(TransitionNotAllowed):
        claim_services.claim_start_processing(actor=superuser, claim_id=closed.pk)
    # then
    assert OutboxMessage.objects.count() == 0
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.PENDING


@pytest.mark.django_db
def test_a_policy_transition_writes_its_notification_to_the_outbox(superuser, with_broker):
    # given
    policy = factories.PolicyFactory()
    # when
    with transaction.atomic():
        policy_services.policy_suspend(actor=superuser, policy_id=policy.pk, reason="Unpaid premium")
    # then
    [message] = OutboxMessage.objects.all()
    assert (message.task, message.kwargs) == ("policies.tasks.notify_policy_status", {"policy_id": str(policy.pk)})
    assert with_broker == []


@pytest.mark.django_db
def test_with_a_broker_the_request_publishes_nothing_and_the_drain_sends_once(
    superuser, with_broker, django_capture_on_commit_callbacks
):
    # given: a broker configured (not eager)
    claim = factories.ClaimFactory()
    # when: the transition commits
    with django_capture_on_commit_callbacks(execute=True):
        claim_services.claim_start_processing(actor=superuser, claim_id=claim.pk)
    # then: no message was published and nothing was sent by the request
    assert with_broker == []
    assert mail.outbox == [] and OutboxMessage.objects.count() == 1
    # when: the worker's drain runs, twice
    token = request_id_var.set("req-drain-test")
    try:
        ran = [outbox.outbox_drain(), outbox.outbox_drain()]
    finally:
        request_id_var.reset(token)
    # then: one e-mail, and the row is gone
    assert ran == [1, 0]
    assert _subjects() == [f"Claim {claim.claim_number}: Processing"]
    assert OutboxMessage.objects.count() == 0


# --- failures -------------------------------------------------------------------------------------------------


def test_backoff_doubles_from_ten_seconds_up_to_an_hour():
    assert [outbox.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert outbox.backoff(30) == dt.timedelta(hours=1)


@pytest.mark.django_db
def test_a_failing_dispatch_stays_and_is_retried_with_backoff(superuser, with_broker):
    # given: a committed transition whose e-mail the mail server refuses
    claim = factories.ClaimFactory()
    claim_services.claim_start_processing(actor=superuser, claim_id=claim.pk)
    t0 = timezone.now()
    # when
    with mock.patch("claims.tasks.send_mail", side_effect=ConnectionRefusedError("smtp down")) as refused:
        first = outbox.outbox_drain(now=t0)
        early = outbox.outbox_drain(now=t0 + dt.timedelta(seconds=5))
    # then: the row stays, postponed by the backoff, its error recorded by type only; not retried before it is due
    assert (first, early, refused.call_count) == (0, 0, 1)
    message = OutboxMessage.objects.get()
    assert (message.attempts, message.last_error) == (1, "ConnectionRefusedError")
    assert message.available_at == t0 + dt.timedelta(seconds=10)
    assert mail.outbox == []
    # when: the mail server is back and the row is due
    sent = outbox.outbox_drain(now=t0 + dt.timedelta(seconds=11))
    # then
    assert sent == 1 and _subjects() == [f"Claim {claim.claim_number}: Processing"]
    assert OutboxMessage.objects.count() == 0


@pytest.mark.django_db
def test_one_failing_row_does_not_hold_back_the_others(superuser, with_broker):
    # given: a row naming a task nobody registered, written before a good one
    OutboxMessage.objects.create(task="nowhere.tasks.gone", kwargs={})
    claim = factories.ClaimFactory()
    claim_services.claim_start_processing(actor=superuser, claim_id=claim.pk)
    # when
    sent = outbox.outbox_drain()
    # then
    assert sent == 1 and len(mail.outbox) == 1
    assert OutboxMessage.objects.get().last_error == "LookupError"


# --- concurrent drains ----------------------------------------------------------------------------------------


class SlowLocmemBackend(LocmemBackend):
    """Django's test mail box, with a mail server that takes a moment per message (so drains overlap)."""

    def send_messages(self, messages):
        time.sleep(0.03)
        return super().send_messages(messages)


@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_never_send_the_same_row_twice(superuser, with_broker, settings):
    # given: thirty committed notifications
    settings.EMAIL_BACKEND = f"{__name__}.SlowLocmemBackend"
    claims = factories.ClaimFactory.create_batch(30)
    for claim in claims:
        claim_services.claim_start_processing(actor=superuser, claim_id=claim.pk)
    assert OutboxMessage.objects.count() == 30
    barrier = threading.Barrier(4)
    ran: dict[int, int] = {}
    errors: list[BaseException] = []

    def drain(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            ran[n] = outbox.outbox_drain(batch_size=3)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    # when: four drains at once (four workers), each with its own connection
    threads = [threading.Thread(target=drain, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then: every claim notified exactly once, the work shared, the table empty
    assert errors == []
    assert _subjects() == sorted(f"Claim {claim.claim_number}: Processing" for claim in claims)
    assert sum(ran.values()) == 30 and sum(1 for n in ran.values() if n) >= 2
    assert OutboxMessage.objects.count() == 0


# --- beat and admin -------------------------------------------------------------------------------------------


def test_beat_drains_the_outbox_every_few_seconds():
    celery_app.loader.import_default_modules()
    [entry] = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "vanguard.outbox.tasks.drain_outbox"]
    assert entry["task"] in celery_app.tasks
    assert 0 < entry["schedule"] <= 10
    assert entry["options"]["expires"] <= entry["schedule"]


@pytest.mark.django_db
def test_the_outbox_is_read_only_and_for_superusers(client, superuser, compliance_officer):
    # given
    OutboxMessage.objects.create(task=NOTIFY_CLAIM, kwargs={"claim_id": "x"})
    url = "/admin/outbox/outboxmessage/"
    # when / then
    client.force_login(superuser)
    assert client.get(url).status_code == 200
    assert client.get(url + "add/").status_code == 403
    client.force_login(compliance_officer)
    assert client.get(url).status_code == 403


# --- Redis down, then back: a real worker and beat --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_while_the_broker_is_down_is_notified_once_it_is_back(tmp_path, ops_redis, superuser):
    # given: a claim, and a web process whose broker is unreachable (nothing listens on the port)
    claim = factories.ClaimFactory()
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"
    mail_dir = tmp_path / "mail"
    common = {
        "DATABASE_URL": database_url_of_test_db(),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "DB_POOL": "false",
    }
    script = (
        "import time\n"
        "from claims import services\n"
        "from vanguard.accounts.models import User\n"
        f"actor = User.objects.get(pk='{superuser.pk}')\n"
        "started = time.monotonic()\n"
        f"services.claim_start_processing(actor=actor, claim_id='{claim.pk}')\n"
        "print('service took', round(time.monotonic() - started, 3))\n"
    )
    # when: the transition runs there
    web = subprocess.run(  # noqa: S603
        [sys.executable, str(REPO / "manage.py"), "shell", "-c", script],
        cwd=REPO,
        env=base_env(CELERY_BROKER_URL=dead_broker, **common),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # then: it committed promptly, without touching the broker, and left its notification in the outbox
    assert web.returncode == 0, web.stderr[-2000:]
    took = float(web.stdout.split("service took")[-1])
    assert took < 3, web.stdout
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.PROCESSING
    assert OutboxMessage.objects.filter(kwargs__claim_id=str(claim.pk)).count() == 1
    assert not mail_dir.exists() or not any(mail_dir.iterdir())

    # when: a worker with beat starts on a reachable Redis (the broker is back)
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "vanguard",
                "worker",
                "-B",
                "--pool=solo",
                "--concurrency=1",
                "--schedule",
                str(tmp_path / "beat-schedule"),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
            ],
            cwd=REPO,
            env=base_env(CELERY_BROKER_URL=OPS_REDIS_URL, OUTBOX_DRAIN_SECONDS="1", **common),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    subject = f"Subject: Claim {claim.claim_number}: Processing"
    try:

        def sent() -> int:
            files = mail_dir.glob("*.log") if mail_dir.exists() else []
            return sum(path.read_text().count(subject) for path in files)

        # then: beat's drain sends the e-mail, once, and the row is gone
        wait_for(sent, timeout=90, what="the worker to send the claim notification")
        wait_for(lambda: not OutboxMessage.objects.exists(), timeout=30, what="the outbox row to be deleted")
        time.sleep(3)  # a few more ticks: nothing is sent again
        assert sent() == 1, log_path.read_text()[-3000:]
    finally:
        stop_process(worker)
