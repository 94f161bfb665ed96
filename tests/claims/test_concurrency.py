"""Concurrency, proven with real threads against PostgreSQL: row locks make transitions race-safe."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from claims import services as claim_services
from claims.models import Claim, ClaimEvent
from policies import services as policy_services
from policies.models import Policy, PolicyEvent
from tests import factories
from vanguard.core import numbers
from vanguard.core.errors import BusinessRuleViolation

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")


def _race(*jobs: Callable[[], object]) -> list[object]:
    """Run the jobs in threads released at the same instant; return each result or raised exception."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def run(index: int, job: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[index] = job()
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc
        finally:
            connection.close()  # each thread has its own connection; give it back

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_approvals_leave_one_approval(manager, mailoutbox):
    # given
    claim = factories.ClaimFactory(processing=True)
    # when
    results = _race(*[lambda: claim_services.claim_approve(actor=manager, claim_id=claim.pk)] * 20)
    # then
    assert [r for r in results if isinstance(r, Exception)] == []
    assert all(r.status == Claim.Status.APPROVED for r in results)
    events = ClaimEvent.objects.filter(claim=claim, kind=ClaimEvent.Kind.STATUS_CHANGED)
    assert events.count() == 1
    assert (events.get().from_status, events.get().to_status) == ("processing", "approved")
    assert len(mailoutbox) == 1


@pytest.mark.django_db(transaction=True)
def test_simultaneous_approve_and_deny_decide_once(manager):
    # given
    claim = factories.ClaimFactory(processing=True)
    # when
    results = _race(
        lambda: claim_services.claim_approve(actor=manager, claim_id=claim.pk),
        lambda: claim_services.claim_deny(actor=manager, claim_id=claim.pk, reason="Excluded peril"),
    )
    # then: one decision wins, the other is refused as a transition from the decided state
    claim.refresh_from_db()
    assert claim.status in {Claim.Status.APPROVED, Claim.Status.DENIED}
    assert sum(isinstance(r, Exception) for r in results) == 1
    assert ClaimEvent.objects.filter(claim=claim, kind=ClaimEvent.Kind.STATUS_CHANGED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_cancel_and_file_on_the_same_policy_never_leave_a_claim_filed_after_the_cancel(underwriter, adjuster):
    for _ in range(8):
        # given
        policy = factories.PolicyFactory()
        # when
        cancelled, filed = _race(
            lambda policy=policy: policy_services.policy_cancel(actor=underwriter, policy_id=policy.pk, reason="Fraud"),
            lambda policy=policy: claim_services.claim_create(
                actor=adjuster,
                policy_id=policy.pk,
                claim_type="fire",
                claim_amount=Decimal("100.00"),
                incident_date=timezone.now() - dt.timedelta(days=1),
            ),
        )
        # then
        assert isinstance(cancelled, Policy) and cancelled.status == Policy.Status.CANCELLED
        cancel_event = PolicyEvent.objects.get(policy=policy, kind=PolicyEvent.Kind.CANCELLED)
        if isinstance(filed, Exception):
            assert isinstance(filed, BusinessRuleViolation) and "cancelled" in str(filed)
            assert not Claim.objects.filter(policy=policy).exists()
        else:
            created = ClaimEvent.objects.get(claim=filed, kind=ClaimEvent.Kind.CREATED)
            assert created.created_at < cancel_event.created_at


@pytest.mark.django_db
def test_policy_number_collision_is_retried(underwriter, monkeypatch):
    # given: the generator's first answer is already taken
    taken = factories.PolicyFactory(policy_number="POL-AAAAAAAA")
    answers = iter(["POL-AAAAAAAA", "POL-BBBBBBBB"])
    monkeypatch.setattr(numbers, "new_number", lambda prefix: next(answers))
    # when
    policy = policy_services.policy_create(
        actor=underwriter,
        customer_id=taken.customer_id,
        policy_type="auto",
        premium_amount=Decimal("300.00"),
        coverage_amount=Decimal("1000.00"),
        start_date=timezone.now(),
        end_date=timezone.now() + dt.timedelta(days=365),
    )
    # then: the caller's transaction survived the collision (savepoint) and the event was written
    assert policy.policy_number == "POL-BBBBBBBB"
    assert Policy.objects.get(pk=policy.pk).events.count() == 1


@pytest.mark.django_db
def test_claim_number_collision_is_retried(adjuster, monkeypatch):
    # given
    taken = factories.ClaimFactory(claim_number="CLM-AAAAAAAA")
    answers = iter(["CLM-AAAAAAAA", "CLM-CCCCCCCC"])
    monkeypatch.setattr(numbers, "new_number", lambda prefix: next(answers))
    # when
    claim = claim_services.claim_create(
        actor=adjuster,
        policy_id=taken.policy_id,
        claim_type="theft",
        claim_amount=Decimal("10.00"),
        incident_date=timezone.now() - dt.timedelta(hours=1),
    )
    # then
    assert claim.claim_number == "CLM-CCCCCCCC"


@pytest.mark.django_db
def test_endless_collisions_give_up(underwriter, monkeypatch):
    # given
    taken = factories.PolicyFactory(policy_number="POL-AAAAAAAA")
    calls = []
    monkeypatch.setattr(numbers, "new_number", lambda prefix: calls.append(prefix) or "POL-AAAAAAAA")
    # when / then
    with pytest.raises(IntegrityError):
        policy_services.policy_create(
            actor=underwriter,
            customer_id=taken.customer_id,
            policy_type="auto",
            premium_amount=Decimal("300.00"),
            coverage_amount=Decimal("1000.00"),
            start_date=timezone.now(),
            end_date=timezone.now() + dt.timedelta(days=365),
        )
    assert len(calls) == numbers.ATTEMPTS
