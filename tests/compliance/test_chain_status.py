"""SPEC §5: a break found by the daily chain verification is alerted at ERROR and noted in /health/ready,
without making the instance unready."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from compliance import chain, tasks
from compliance.models import AuditEntry, AuditVerification
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(settings):
    settings.CELERY_BROKER_URL = ""


def _tamper() -> AuditEntry:
    factories.CustomerFactory()
    chain.seal_pending()  # as after the commit
    victim = AuditEntry.objects.order_by("seq").first()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_auditentry SET cid = 'forged' WHERE id = %s", [victim.pk])
    return victim


def test_readiness_notes_a_chain_never_verified(client):
    # when
    response = client.get("/health/ready")

    # then
    assert response.status_code == 200
    note = response.json()["notes"]["audit_chain"]
    assert note["ok"] is None and note["verified_at"] is None and "not verified yet" in note["detail"]


def test_an_intact_verification_is_recorded_and_noted(client):
    # given
    factories.CustomerFactory()
    chain.seal_pending()  # as after the commit

    # when
    assert tasks.verify_audit_chain.delay().get() is True
    response = client.get("/health/ready")

    # then
    run = AuditVerification.objects.get()
    assert (run.ok, run.breaks, run.first_break) == (True, 0, "")
    assert run.entries == AuditEntry.objects.count()
    note = response.json()["notes"]["audit_chain"]
    assert note == {"ok": True, "verified_at": run.created_at.isoformat(), "detail": f"intact: {run.entries} entries"}


def test_a_break_is_logged_at_error_and_noted_without_failing_readiness(client, caplog):
    # given
    victim = _tamper()

    # when
    with caplog.at_level(logging.INFO, logger="compliance.tasks"):
        assert tasks.verify_audit_chain.delay().get() is False
    response = client.get("/health/ready")

    # then: the alert is in the log, the run is on record, readiness still says ok with a note
    assert [r for r in caplog.records if r.levelno == logging.ERROR]
    run = AuditVerification.objects.get()
    assert run.ok is False and run.breaks >= 1 and f"entry #{victim.seq}" in run.first_break
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert "audit_chain" not in body["checks"]
    note = body["notes"]["audit_chain"]
    assert note["ok"] is False and note["detail"].startswith("BROKEN")
    assert note["verified_at"] == run.created_at.isoformat()


def test_the_command_records_its_outcome_too(client):
    # given
    factories.CustomerFactory()
    call_command("verify_audit_chain")
    _tamper()

    # when
    with pytest.raises(CommandError):
        call_command("verify_audit_chain")

    # then: the latest run is the broken one, and readiness notes it
    assert list(AuditVerification.objects.values_list("ok", flat=True)) == [False, True]
    assert client.get("/health/ready").json()["notes"]["audit_chain"]["ok"] is False


def test_an_overdue_verification_is_noted(client):
    # given: the last (intact) run is two days old: the daily job stopped
    factories.CustomerFactory()
    tasks.verify_audit_chain.delay().get()
    AuditVerification.objects.update(created_at=timezone.now() - dt.timedelta(days=2))

    # when
    note = client.get("/health/ready").json()["notes"]["audit_chain"]

    # then
    assert note["ok"] is None and note["detail"].startswith("overdue")


def test_entries_left_unsealed_beyond_the_bound_are_noted_at_once(client, settings):
    # given: an intact verification, then an entry the sealer never chained (it is not running)
    settings.AUDIT_SEAL_BOUND_SECONDS = 60
    factories.CustomerFactory()
    chain.seal_pending()
    assert tasks.verify_audit_chain.delay().get() is True
    factories.CustomerFactory()
    AuditEntry.objects.filter(seq__isnull=True).update(timestamp=timezone.now() - dt.timedelta(seconds=61))

    # when
    note = client.get("/health/ready").json()["notes"]["audit_chain"]

    # then
    assert note["ok"] is False and "not being sealed" in note["detail"]
