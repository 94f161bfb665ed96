"""Celery: the beat schedule, a real worker on a real Redis broker, request-id propagation, retries."""

from __future__ import annotations

import os
import subprocess
import sys
from unittest import mock

import pytest
from celery import Celery
from django.conf import settings
from django.core import mail

from claims.tasks import notify_claim_status
from compliance.models import AuditEntry
from policies.models import Policy
from policies.tasks import expire_policies
from tests import factories
from tests.ops.conftest import OPS_REDIS_URL, REPO, base_env, database_url_of_test_db, stop_process, wait_for
from vanguard.celery import app as celery_app
from vanguard.core.request_context import request_id_var


def test_beat_schedule_names_registered_tasks():
    # given
    celery_app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE
    # when
    names = {entry["task"] for entry in schedule.values()}
    # then
    assert {
        "policies.tasks.expire_policies",
        "compliance.tasks.enforce_data_retention",
        "policies.tasks.flag_policies_for_review",
        "compliance.tasks.verify_audit_chain",
        "vanguard.accounts.tasks.flush_expired_tokens",
        "vanguard.outbox.tasks.drain_outbox",
    } <= names
    missing = sorted(name for name in names if name not in celery_app.tasks)
    assert missing == [], f"beat schedule names unregistered tasks: {missing}"


@pytest.mark.django_db(transaction=True)
def test_task_runs_through_redis_and_a_worker_process_carrying_the_request_id(tmp_path, ops_redis):
    # given: a claim with a customer and an assignee, a policy due to expire, and a worker on this suite's Redis db
    adjuster = factories.UserFactory(email="adjuster.worker@vanguard.test")
    claim = factories.ClaimFactory(assigned_to=adjuster)
    due = factories.PolicyFactory(lapsed=True)
    mail_dir = tmp_path / "mail"
    env = base_env(
        DATABASE_URL=database_url_of_test_db(),
        CELERY_BROKER_URL=OPS_REDIS_URL,
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(mail_dir),
        DB_POOL="false",
    )
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "vanguard",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # when: the tasks are published (not run eagerly) while a request id is current
        producer = Celery("ops-test-producer", broker=OPS_REDIS_URL)
        token = request_id_var.set("req-ops-worker-1")
        try:
            producer.send_task("claims.tasks.notify_claim_status", kwargs={"claim_id": str(claim.pk)})
            producer.send_task("policies.tasks.expire_policies")
        finally:
            request_id_var.reset(token)

        # then: the worker sent the e-mail through Django's backend ...
        def claim_mail() -> str | None:
            for path in mail_dir.glob("*.log") if mail_dir.exists() else []:
                if claim.claim_number in (text := path.read_text()):
                    return text
            return None

        body = wait_for(claim_mail, timeout=90, what="the worker to write the claim notification e-mail")
        assert claim.policy.customer.email in body and adjuster.email in body
        # ... and expired the policy as the system actor, its audit rows carrying the publishing request's id
        wait_for(
            lambda: Policy.objects.filter(pk=due.pk, status=Policy.Status.EXPIRED).exists(),
            timeout=60,
            what="the worker to expire the policy",
        )
        entries = AuditEntry.objects.filter(object_pk=str(due.pk), action=AuditEntry.Action.UPDATE)
        assert entries.exists()
        assert set(entries.values_list("cid", flat=True)) == {"req-ops-worker-1"}
        assert {entry.actor.email for entry in entries} == {"system@vanguard.invalid"}
        wait_for(lambda: "req-ops-worker-1" in log_path.read_text(), timeout=10, what="the request id in worker logs")
    finally:
        stop_process(worker)
    assert worker.returncode is not None
    assert claim.policy.customer.phone not in log_path.read_text()


@pytest.mark.django_db
def test_eager_task_keeps_the_callers_request_id_in_audit_rows():
    # given: no broker (tasks run in-process) and a policy due to expire
    assert settings.CELERY_TASK_ALWAYS_EAGER
    due = factories.PolicyFactory(lapsed=True)
    # when
    token = request_id_var.set("req-eager-7")
    try:
        expire_policies.delay()
    finally:
        request_id_var.reset(token)
    # then
    due.refresh_from_db()
    assert due.status == Policy.Status.EXPIRED
    updates = AuditEntry.objects.filter(object_pk=str(due.pk), action=AuditEntry.Action.UPDATE)
    assert set(updates.values_list("cid", flat=True)) == {"req-eager-7"}


@pytest.mark.django_db
def test_notification_retries_a_transient_mail_failure_then_delivers():
    # given: the mail server refuses the first two connections
    claim = factories.ClaimFactory()
    real_send = mail.send_mail
    calls = []

    def flaky_send(*args, **kwargs):
        calls.append(1)
        if len(calls) <= 2:
            raise ConnectionRefusedError("smtp down")
        return real_send(*args, **kwargs)

    # when
    with mock.patch("claims.tasks.send_mail", side_effect=flaky_send):
        notify_claim_status.apply(kwargs={"claim_id": str(claim.pk)})
    # then
    assert len(calls) == 3
    assert len(mail.outbox) == 1 and claim.claim_number in mail.outbox[0].subject


@pytest.mark.django_db
def test_notification_gives_up_after_three_retries():
    # given
    claim = factories.ClaimFactory()
    # when
    with mock.patch("claims.tasks.send_mail", side_effect=ConnectionRefusedError("smtp down")) as send:
        result = notify_claim_status.apply(kwargs={"claim_id": str(claim.pk)})
    # then: one attempt plus three retries, then the failure is reported
    assert send.call_count == 4
    assert result.failed()


@pytest.mark.django_db
def test_notification_for_a_missing_claim_is_a_no_op():
    # when
    result = notify_claim_status.apply(kwargs={"claim_id": "00000000-0000-4000-8000-000000000000"})
    # then
    assert result.get() == 0 and mail.outbox == []


def test_worker_does_not_hijack_django_logging():
    assert celery_app.conf.worker_hijack_root_logger is False
    assert os.environ.get("CELERY_BROKER_URL") is None or settings.CELERY_BROKER_URL


@pytest.mark.django_db
def test_an_in_process_task_without_a_broker_logs_no_kombu_warning(caplog):
    # given: no broker configured (the development default), so tasks run at enqueue time
    assert celery_app.conf.task_always_eager
    claim = factories.ClaimFactory()
    # when
    with caplog.at_level("WARNING", logger="kombu"):
        notify_claim_status.delay(claim_id=str(claim.pk))
    # then
    assert [r.getMessage() for r in caplog.records if r.name.startswith("kombu")] == []
    assert len(mail.outbox) == 1


def test_every_scheduled_job_and_notification_retries_transient_failures_three_times():
    from django.db import OperationalError

    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    names |= {"claims.tasks.notify_claim_status", "policies.tasks.notify_policy_status"}
    for name in sorted(names):
        task = celery_app.tasks[name]
        assert task.max_retries == 3, name
        assert {OperationalError, ConnectionError, OSError} <= set(task.autoretry_for), name
        assert task.retry_backoff, name
