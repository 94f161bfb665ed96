"""`manage.py verify_claim_financials`, its daily task and the readiness note (SPEC §10.2): the stored totals are
recomputed from the rows, every mismatch is named, the command exits non-zero, and /health/ready notes the last
result without turning unready."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from claims import services as claim_services
from claims import tasks
from claims.financials import services as fin
from claims.financials.verify import Mismatch, verify_claim_financials
from claims.models import Claim, FinancialsVerification
from tests import factories

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture(autouse=True)
def _no_broker(settings):
    settings.CELERY_BROKER_URL = ""


def _book(actor) -> list[Claim]:
    """Claims with every kind of row: reserves, payments issued, voided and cancelled, a recovery, a closure."""
    claims = []
    for amount in ("3000.00", "4500.00", "700.00"):
        policy = factories.PolicyFactory()
        claim = claim_services.claim_create(
            actor=actor,
            policy_id=policy.pk,
            claim_type="theft",
            claim_amount=D(amount),
            incident_date=timezone.now() - dt.timedelta(days=2),
        )
        claims.append(claim)
    paid, voided, closed = claims
    for claim in claims:
        claim_services.claim_approve(actor=actor, claim_id=claim.pk)
    fin.claim_reserve_set(actor=actor, claim_id=paid.pk, cost_type="expense", amount=D("300.00"), reason="Expert")
    fin.payment_issue(
        actor=actor,
        payment_id=fin.payment_request(
            actor=actor, claim_id=paid.pk, cost_type="indemnity", amount=D("3000.00"), payee_name="A", method="cheque"
        ).pk,
    )
    fin.payment_issue(
        actor=actor,
        payment_id=fin.payment_request(
            actor=actor, claim_id=paid.pk, cost_type="expense", amount=D("250.00"), payee_name="Expert", method="cheque"
        ).pk,
    )
    fin.recovery_record(actor=actor, claim_id=paid.pk, kind="salvage", amount=D("400.00"), source="Yard")
    payment = fin.payment_request(
        actor=actor,
        claim_id=voided.pk,
        cost_type="indemnity",
        amount=D("2000.00"),
        payee_name="B",
        method="bank_transfer",
    )
    fin.payment_issue(actor=actor, payment_id=payment.pk)
    fin.payment_void(actor=actor, payment_id=payment.pk, reason="Returned")
    fin.payment_cancel(
        actor=actor,
        payment_id=fin.payment_request(
            actor=actor, claim_id=voided.pk, cost_type="indemnity", amount=D("100.00"), payee_name="C", method="cheque"
        ).pk,
        reason="Duplicate",
    )
    fin.payment_issue(
        actor=actor,
        payment_id=fin.payment_request(
            actor=actor, claim_id=closed.pk, cost_type="indemnity", amount=D("700.00"), payee_name="D", method="cheque"
        ).pk,
    )
    claim_services.claim_close(actor=actor, claim_id=closed.pk)
    return claims


def _run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("verify_claim_financials", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_consistent_book_verifies_and_the_run_is_recorded(superuser):
    # given
    _book(superuser)
    factories.ClaimFactory()  # a claim from before the financials: no rows, zero totals

    # when
    out, _ = _run()

    # then
    assert verify_claim_financials() == []
    assert "consistent: 4 claims" in out
    run = FinancialsVerification.objects.get()
    assert (run.ok, run.claims, run.mismatches, run.first_mismatch) == (True, 4, 0, "")


def test_a_total_altered_in_sql_is_named_and_the_command_exits_non_zero(superuser):
    # given: the paid claim's stored indemnity paid raised by 1.00 behind the services' back (its gross and net
    # too, as the table's CHECKs demand)
    paid, _, _ = _book(superuser)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE claims_claim SET paid_indemnity = paid_indemnity + 1, gross_incurred = gross_incurred + 1, "
            "net_incurred = net_incurred + 1 WHERE id = %s",
            [paid.pk],
        )

    # when
    with pytest.raises(CommandError, match=r"3 mismatch\(es\) in 3 claims") as failed:
        _run()

    # then: each figure is named with what is stored and what the rows say
    number = paid.claim_number
    assert verify_claim_financials() == [
        Mismatch(number, "gross_incurred", D("3301.00"), D("3300.00")),
        Mismatch(number, "net_incurred", D("2901.00"), D("2900.00")),
        Mismatch(number, "paid_indemnity", D("3001.00"), D("3000.00")),
    ]
    assert failed.value.returncode == 1
    run = FinancialsVerification.objects.get()
    assert (run.ok, run.mismatches) == (False, 3)
    assert run.first_mismatch == f"{number}: gross_incurred is 3301.00 but its rows say 3300.00"


def test_the_command_exits_1_from_the_shell(superuser):
    # given
    paid, _, _ = _book(superuser)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE claims_claim SET recovered = 0, net_incurred = gross_incurred WHERE id = %s", [paid.pk])

    # when
    err = io.StringIO()
    with pytest.raises(SystemExit) as exited, contextlib.redirect_stderr(err):
        ManagementUtility(["manage.py", "verify_claim_financials"]).execute()

    # then
    assert exited.value.code == 1
    assert f"{paid.claim_number}: recovered is 0.00 but its rows say 400.00" in err.getvalue()


def test_an_edited_reserve_change_is_found_even_when_it_is_not_the_latest(superuser):
    # given: the first reserve change of a claim rewritten (the totals still agree with the latest one)
    _, voided, _ = _book(superuser)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE claims_reservechange SET new_amount = 9999 WHERE claim_id = %s AND reason = 'initial reserve'",
            [voided.pk],
        )

    # when
    found = verify_claim_financials()

    # then: the next change does not start where it ended
    assert len(found) == 1
    assert found[0].claim_number == voided.claim_number and "reserve_indemnity history" in found[0].field
    assert (found[0].stored, found[0].computed) == (D("4500.00"), D("9999.00"))


def test_a_deleted_payment_row_is_found(superuser):
    # given
    paid, _, _ = _book(superuser)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM claims_claimpayment WHERE claim_id = %s AND cost_type = 'expense'", [paid.pk])

    # when / then
    assert {m.field for m in verify_claim_financials()} == {"paid_expense", "gross_incurred", "net_incurred"}


def test_the_daily_task_is_scheduled_logs_mismatches_and_readiness_notes_them(superuser, client, caplog):
    # given
    assert settings.CELERY_BEAT_SCHEDULE["verify-claim-financials"]["task"] == "claims.tasks.verify_claim_financials"
    paid, _, _ = _book(superuser)

    # when: a consistent run
    assert tasks.verify_claim_financials.delay().get() is True
    note = client.get("/health/ready").json()["notes"]["claim_financials"]

    # then
    run = FinancialsVerification.objects.get()
    assert note == {"ok": True, "verified_at": run.created_at.isoformat(), "detail": "consistent: 3 claims"}

    # when: a total altered, and the job runs again
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE claims_claim SET reserve_expense = 1, gross_incurred = gross_incurred + 1 - "
            "reserve_expense, net_incurred = net_incurred + 1 - reserve_expense WHERE id = %s",
            [paid.pk],
        )
    with caplog.at_level(logging.INFO, logger="claims.tasks"):
        assert tasks.verify_claim_financials.delay().get() is False
    response = client.get("/health/ready")

    # then: the mismatch is in the log at ERROR, noted in readiness, and the instance stays ready
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(paid.claim_number in message and "reserve_expense" in message for message in errors)
    assert response.status_code == 200 and response.json()["status"] == "ok"
    note = response.json()["notes"]["claim_financials"]
    assert note["ok"] is False and note["detail"].startswith("MISMATCHED: 3 figure(s)")
    assert paid.claim_number not in note["detail"]


def test_readiness_notes_a_verification_never_run_or_overdue(client):
    # when / then
    note = client.get("/health/ready").json()["notes"]["claim_financials"]
    assert (note["ok"], note["verified_at"]) == (None, None) and "not verified yet" in note["detail"]

    # given: the last run 2 days ago
    run = FinancialsVerification.objects.create(ok=True, claims=0)
    FinancialsVerification.objects.filter(pk=run.pk).update(created_at=timezone.now() - dt.timedelta(days=2))

    # when / then
    note = client.get("/health/ready").json()["notes"]["claim_financials"]
    assert note["ok"] is None and note["detail"].startswith("overdue")
