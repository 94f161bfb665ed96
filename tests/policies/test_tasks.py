"""Scheduled policy jobs (SPEC §5): the real task code, run as the named system actor, idempotent."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from compliance.models import AuditEntry
from policies import tasks
from policies.models import Policy, PolicyEvent
from tests import factories
from vanguard.accounts.models import SYSTEM_ACTOR_EMAIL

pytestmark = pytest.mark.django_db

S = Policy.Status
C = Policy.ComplianceStatus


def test_expire_policies_expires_only_lapsed_active_policies(django_capture_on_commit_callbacks, mailoutbox):
    # given
    lapsed = [factories.PolicyFactory(lapsed=True) for _ in range(2)]
    current = factories.PolicyFactory()
    suspended_lapsed = factories.PolicyFactory(inactive=True, start_date=timezone.now() - dt.timedelta(days=400))
    pending = factories.PolicyFactory(pending=True)
    already = factories.PolicyFactory(expired=True)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        count = tasks.expire_policies()
    # then
    assert count == 2
    for policy in lapsed:
        policy.refresh_from_db()
        assert policy.status == S.EXPIRED
        event = policy.events.get()
        assert (event.kind, event.from_status, event.to_status) == ("expired", "active", "expired")
        assert event.actor.email == SYSTEM_ACTOR_EMAIL and event.actor.is_system
        [entry] = AuditEntry.objects.get_for_object(policy).filter(action=AuditEntry.Action.UPDATE)
        assert entry.actor.email == SYSTEM_ACTOR_EMAIL and entry.cid
    untouched = {current: S.ACTIVE, suspended_lapsed: S.INACTIVE, pending: S.PENDING, already: S.EXPIRED}
    for policy, status in untouched.items():
        policy.refresh_from_db()
        assert policy.status == status and not policy.events.exists()
    assert sorted(mail.to[0] for mail in mailoutbox) == sorted(p.customer.email for p in lapsed)


def test_expire_policies_twice_changes_nothing_the_second_time():
    # given
    policy = factories.PolicyFactory(lapsed=True)
    tasks.expire_policies()
    # when
    count = tasks.expire_policies()
    # then
    assert count == 0
    assert policy.events.count() == 1


def _audited(days_ago: int | None, **kwargs) -> Policy:
    last = timezone.now() - dt.timedelta(days=days_ago) if days_ago is not None else None
    return factories.PolicyFactory(last_audit_date=last, **kwargs)


def test_flag_policies_for_review_flags_only_audits_older_than_a_year():
    # given
    stale = _audited(366)
    fresh = _audited(364)
    never_new = _audited(None)
    never_old = _audited(None)
    Policy.objects.filter(pk=never_old.pk).update(created_at=timezone.now() - dt.timedelta(days=400))
    stale_but_worse = _audited(500, compliance_status=C.NON_COMPLIANT)
    # when
    count = tasks.flag_policies_for_review()
    # then
    assert count == 2
    expected = {
        stale: C.REVIEW_REQUIRED,
        never_old: C.REVIEW_REQUIRED,
        fresh: C.COMPLIANT,
        never_new: C.COMPLIANT,
        stale_but_worse: C.NON_COMPLIANT,
    }
    for policy, status in expected.items():
        policy.refresh_from_db()
        assert policy.compliance_status == status, policy
    event = stale.events.get()
    assert event.kind == PolicyEvent.Kind.FLAGGED and event.actor.email == SYSTEM_ACTOR_EMAIL
    [entry] = AuditEntry.objects.get_for_object(stale).filter(action=AuditEntry.Action.UPDATE)
    assert entry.actor.email == SYSTEM_ACTOR_EMAIL and entry.changes["compliance_status"] == [
        "compliant",
        "review_required",
    ]
    assert not fresh.events.exists()


def test_flag_policies_for_review_twice_flags_nothing_the_second_time():
    # given
    policy = _audited(400)
    tasks.flag_policies_for_review()
    # when
    count = tasks.flag_policies_for_review()
    # then
    assert count == 0
    assert policy.events.count() == 1


def test_policy_notice_skips_erased_customers(mailoutbox):
    # given
    policy = factories.PolicyFactory(customer=factories.CustomerFactory(erased_at=timezone.now()))
    # when / then
    assert tasks.notify_policy_status(str(policy.pk)) == 0
    assert tasks.notify_policy_status(str(uuid.uuid4())) == 0
    assert mailoutbox == []
