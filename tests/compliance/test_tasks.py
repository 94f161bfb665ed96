"""Compliance jobs: daily chain verification, the policy review flag, attribution to the system actor."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.db import connection
from django.utils import timezone

from compliance import chain, tasks
from compliance.models import AuditCheckpoint, AuditEntry
from policies import tasks as policy_tasks
from policies.models import Policy, PolicyEvent
from tests import factories
from vanguard.accounts.models import system_actor

pytestmark = pytest.mark.django_db


def test_daily_verification_records_a_checkpoint_when_intact(caplog):
    # given
    factories.CustomerFactory()
    chain.seal_pending()  # as after the commit

    # when
    with caplog.at_level(logging.INFO, logger="compliance.tasks"):
        ok = tasks.verify_audit_chain.delay().get()

    # then
    assert ok is True
    checkpoint = AuditCheckpoint.objects.get()
    assert checkpoint.seq == AuditEntry.objects.filter(seq__isnull=False).order_by("-seq").first().seq  # the head
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_daily_verification_logs_an_error_naming_the_break(caplog):
    # given
    factories.CustomerFactory()
    factories.CustomerFactory()
    chain.seal_pending()  # as after the commit
    victim = AuditEntry.objects.order_by("seq").first()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_auditentry SET cid = 'forged' WHERE id = %s", [victim.pk])

    # when
    with caplog.at_level(logging.INFO, logger="compliance.tasks"):
        ok = tasks.verify_audit_chain.delay().get()

    # then
    assert ok is False
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert f"entry #{victim.seq} (id {victim.pk})" in error.getMessage()
    assert not AuditCheckpoint.objects.exists()


def test_review_flag_task_flags_stale_policies_as_the_system_actor():
    # given
    stale = factories.PolicyFactory(last_audit_date=timezone.now() - dt.timedelta(days=400))
    fresh = factories.PolicyFactory(last_audit_date=timezone.now() - dt.timedelta(days=30))

    # when
    flagged = policy_tasks.flag_policies_for_review.delay().get()

    # then
    assert flagged == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.compliance_status == Policy.ComplianceStatus.REVIEW_REQUIRED
    assert fresh.compliance_status == Policy.ComplianceStatus.COMPLIANT
    chain.seal_pending()  # as after the commit
    entry = AuditEntry.objects.filter(object_pk=str(stale.pk)).order_by("-seq").first()
    assert entry.changes["compliance_status"] == ["compliant", "review_required"]
    assert entry.actor == system_actor() and entry.cid.startswith("job-")
    assert PolicyEvent.objects.get(policy=stale, kind="flagged").actor == system_actor()
    # idempotent: a second run flags nothing new
    assert policy_tasks.flag_policies_for_review.delay().get() == 0
