"""20 concurrent payment requests on one claim never overdraw the reserve or the approved amount (SPEC §10.2):
every financial service locks the claim row first, so the requests queue and each sees what the others hold.
Real threads, each with its own database connection."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.db.models import Sum
from django.utils import timezone

from claims import services as claim_services
from claims.financials import services as fin
from claims.models import PAYMENT_UNISSUED, Claim, ClaimPayment
from tests import factories
from vanguard.core.errors import BusinessRuleViolation

REQUESTS = 20
D = Decimal


def _claim(actor, *, claimed: str, approved: str) -> Claim:
    policy = factories.PolicyFactory(coverage_amount=D("100000.00"))
    claim = claim_services.claim_create(
        actor=actor,
        policy_id=policy.pk,
        claim_type="fire",
        claim_amount=D(claimed),
        incident_date=timezone.now() - dt.timedelta(days=3),
    )
    claim_services.claim_approve(actor=actor, claim_id=claim.pk, amount=D(approved))
    return claim


def _race(target, count: int = REQUESTS) -> tuple[list, list[BaseException]]:
    """Run `target(n)` in `count` threads released together; what each returned, and what each raised."""
    barrier = threading.Barrier(count)
    results: list = []
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            results.append(target(n))
        except BaseException as exc:  # collected for the assertions
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def _held(claim: Claim, cost_type: str = "indemnity") -> Decimal:
    return ClaimPayment.objects.filter(claim=claim, cost_type=cost_type, status__in=PAYMENT_UNISSUED).aggregate(
        s=Sum("amount")
    )["s"] or D("0")


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is proven against PostgreSQL")


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_overdraw_the_reserve(postgres_only):
    # given: approved at 20,000.00 but reserved at 7,000.00; 20 requests of 1,000.00 at once
    actor = factories.UserFactory(superuser=True)
    claim = _claim(actor, claimed="20000.00", approved="20000.00")
    fin.claim_reserve_set(actor=actor, claim_id=claim.pk, cost_type="indemnity", amount=D("7000.00"), reason="Estimate")

    # when
    made, refused = _race(
        lambda n: fin.payment_request(
            actor=actor,
            claim_id=claim.pk,
            cost_type="indemnity",
            amount=D("1000.00"),
            payee_name=f"Payee {n}",
            method="bank_transfer",
        )
    )

    # then: exactly the reserve's worth was accepted; the rest refused with the rule's 400
    assert len(made) == 7 and len(refused) == REQUESTS - 7
    assert all(isinstance(exc, BusinessRuleViolation) and "open indemnity reserve" in exc.message for exc in refused)
    assert _held(claim) == D("7000.00")
    assert len({p.payment_number for p in made}) == 7


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_overdraw_the_approved_amount(postgres_only):
    # given: reserved at 20,000.00 (the claimed amount) but approved at 12,500.00; 20 requests of 1,000.00
    actor = factories.UserFactory(superuser=True)
    claim = _claim(actor, claimed="20000.00", approved="12500.00")

    # when
    made, refused = _race(
        lambda n: fin.payment_request(
            actor=actor,
            claim_id=claim.pk,
            cost_type="indemnity",
            amount=D("1000.00"),
            payee_name=f"Payee {n}",
            method="cheque",
        )
    )

    # then
    assert len(made) == 12 and len(refused) == REQUESTS - 12
    assert all(isinstance(exc, BusinessRuleViolation) and "approved amount" in exc.message for exc in refused)
    assert _held(claim) == D("12000.00")


@pytest.mark.django_db(transaction=True)
def test_concurrent_issues_and_requests_keep_the_totals_equal_to_the_rows(postgres_only):
    # given: 10 payments of 500.00 approved; 10 more requested while those are issued
    actor = factories.UserFactory(superuser=True)
    claim = _claim(actor, claimed="10000.00", approved="9000.00")
    approved = [
        fin.payment_request(
            actor=actor,
            claim_id=claim.pk,
            cost_type="indemnity",
            amount=D("500.00"),
            payee_name=f"Payee {n}",
            method="cheque",
        )
        for n in range(10)
    ]

    # when: issues and requests race each other
    def step(n: int):
        if n % 2 == 0:
            return fin.payment_issue(actor=actor, payment_id=approved[n // 2].pk)
        return fin.payment_request(
            actor=actor,
            claim_id=claim.pk,
            cost_type="indemnity",
            amount=D("900.00"),
            payee_name=f"Late payee {n}",
            method="cheque",
        )

    made, refused = _race(step)

    # then: the 10 issued (5,000.00); the new requests fit in what the approved amount left (9,000 less the
    # 5,000 committed before) and never exceed it; the stored totals are what the rows say
    assert all(isinstance(exc, BusinessRuleViolation) for exc in refused)
    claim.refresh_from_db()
    committed = claim.paid_indemnity + _held(claim)
    assert committed <= claim.approved_amount
    assert len([p for p in made if p.amount == D("900.00")]) == 4  # 4 of 900.00 fit in the 4,000.00 left
    assert claim.paid_indemnity == D("5000.00") and _held(claim) == D("3600.00")
    assert claim.reserve_indemnity == D("5000.00") and claim.reserve_indemnity >= _held(claim)
    assert {name: getattr(claim, name) for name in fin.TOTALS} == fin.claim_financials_recompute(claim_id=claim.pk)
