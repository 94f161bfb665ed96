"""Claims financials at the service level (SPEC §10.2): every rule and its status code, the four-eyes rule, the
claim moving to paid and back, closing, recoveries, the stored totals, and bad input that writes nothing."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal

import pytest
from auditlog.context import set_actor
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from claims import services as claim_services
from claims.financials import services as fin
from claims.models import Claim, ClaimEvent, ClaimPayment, ClaimRecovery, ReserveChange
from compliance.models import AuditEntry
from tests import factories
from vanguard.accounts import roles
from vanguard.core.errors import AuthorityExceeded, BusinessRuleViolation, NotPermitted, TransitionNotAllowed
from vanguard.outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db

D = Decimal
S = Claim.Status
P = ClaimPayment.Status
IBAN = "GB33BUKB20201555555555"
TOTALS = fin.TOTALS


@pytest.fixture
def finance(db):
    return factories.staff(roles.FINANCE)


@pytest.fixture
def other_manager(db):
    return factories.staff(roles.CLAIMS_MANAGER)


def file_claim(actor, amount: str = "8000.00", coverage: str = "50000.00") -> Claim:
    policy = factories.PolicyFactory(coverage_amount=D(coverage))
    return claim_services.claim_create(
        actor=actor,
        policy_id=policy.pk,
        claim_type="accident",
        claim_amount=D(amount),
        incident_date=timezone.now() - dt.timedelta(days=1),
    )


def approved_claim(actor, amount: str = "8000.00", approved: str | None = None, **kwargs) -> Claim:
    claim = file_claim(actor, amount, **kwargs)
    claim_services.claim_approve(actor=actor, claim_id=claim.pk, amount=D(approved) if approved else None)
    return fresh(claim)


def fresh(claim: Claim) -> Claim:
    return Claim.objects.get(pk=claim.pk)


def request(actor, claim: Claim, amount: str, cost_type: str = "indemnity", **kwargs) -> ClaimPayment:
    fields = {"payee_name": "Northgate Body Repairs", "payee_account": IBAN, "method": "bank_transfer", **kwargs}
    return fin.payment_request(actor=actor, claim_id=claim.pk, cost_type=cost_type, amount=D(amount), **fields)


def totals(claim: Claim) -> dict[str, Decimal]:
    claim = fresh(claim)
    return {name: getattr(claim, name) for name in TOTALS}


def written() -> tuple:
    """Everything a refused write must leave as it was."""
    return (
        ReserveChange.objects.count(),
        ClaimPayment.objects.count(),
        ClaimRecovery.objects.count(),
        ClaimEvent.objects.count(),
        OutboxMessage.objects.count(),
        AuditEntry.objects.count(),
        sorted(Claim.objects.values_list("claim_number", "status", *TOTALS)),
        sorted(ClaimPayment.objects.values_list("payment_number", "status")),
    )


def assert_consistent(claim: Claim) -> None:
    assert totals(claim) == fin.claim_financials_recompute(claim_id=claim.pk)


def in_status(actor, status: str) -> Claim:
    """A claim brought to `status` through the services (paid: its indemnity issued in full)."""
    claim = file_claim(actor, "3000.00")
    if status == S.PENDING:
        return claim
    if status == S.PROCESSING:
        claim_services.claim_start_processing(actor=actor, claim_id=claim.pk)
    elif status in {S.DENIED, S.CLOSED}:
        claim_services.claim_deny(actor=actor, claim_id=claim.pk, reason="Not covered")
        if status == S.CLOSED:
            claim_services.claim_close(actor=actor, claim_id=claim.pk)
    else:
        claim_services.claim_approve(actor=actor, claim_id=claim.pk)
        if status == S.PAID:
            fin.payment_issue(actor=actor, payment_id=request(actor, claim, "3000.00").pk)
    claim = fresh(claim)
    assert claim.status == status
    return claim


# --- the initial reserve and the totals ---------------------------------------------------------------------
def test_a_new_claim_is_reserved_at_its_claimed_amount(adjuster):
    # when
    claim = file_claim(adjuster, "1850.00")

    # then: one reserve change says so, and the stored totals agree with it
    change = ReserveChange.objects.get(claim=claim)
    assert (change.cost_type, change.previous_amount, change.new_amount, change.reason, change.actor) == (
        "indemnity",
        D("0.00"),
        D("1850.00"),
        "initial reserve",
        adjuster,
    )
    assert totals(claim) == {
        **dict.fromkeys(TOTALS, D("0.00")),
        "reserve_indemnity": D("1850.00"),
        "gross_incurred": D("1850.00"),
        "net_incurred": D("1850.00"),
    }
    assert claim.reserve_indemnity == D("1850.00")  # the claim the service returned says so too
    assert_consistent(claim)


def test_the_whole_flow_keeps_the_stored_totals_equal_to_the_rows(superuser, other_manager, finance):
    # given: a claim for 12,000.00 approved at 10,000.00, an expense reserve for the loss adjuster
    claim = approved_claim(superuser, "12000.00", "10000.00")
    fin.claim_reserve_set(
        actor=superuser, claim_id=claim.pk, cost_type="expense", amount=D("750.00"), reason="Loss adjuster's fee"
    )

    # when: the indemnity paid in two payments (one above the four-eyes limit), the fee paid, a salvage recovered
    big = request(superuser, claim, "6000.00", payee_name="Ann Holder", payee_is_policyholder=True)
    fin.payment_approve(actor=other_manager, payment_id=big.pk)
    fin.payment_issue(actor=finance, payment_id=big.pk)
    fin.payment_issue(actor=finance, payment_id=request(superuser, claim, "4000.00").pk)
    fin.payment_issue(actor=finance, payment_id=request(superuser, claim, "700.00", "expense").pk)
    fin.recovery_record(
        actor=finance, claim_id=claim.pk, kind="salvage", amount=D("1200.00"), source="Copart salvage auction"
    )

    # then: paid = 10,700, open reserves = 2,000 indemnity (12,000 reserved less 10,000 paid) + 50 expense
    assert totals(claim) == {
        "reserve_indemnity": D("2000.00"),
        "reserve_expense": D("50.00"),
        "paid_indemnity": D("10000.00"),
        "paid_expense": D("700.00"),
        "recovered": D("1200.00"),
        "gross_incurred": D("12750.00"),
        "net_incurred": D("11550.00"),
    }
    assert fresh(claim).status == S.PAID
    assert_consistent(claim)


# --- reserves ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [S.PENDING, S.PROCESSING, S.APPROVED, S.PAID])
def test_reserves_are_set_while_the_claim_is_live(superuser, status):
    # given
    claim = in_status(superuser, status)

    # when
    change = fin.claim_reserve_set(
        actor=superuser, claim_id=claim.pk, cost_type="expense", amount=D("400.00"), reason="Expert's report"
    )

    # then
    assert (change.previous_amount, change.new_amount, change.reason) == (D("0.00"), D("400.00"), "Expert's report")
    assert fresh(claim).reserve_expense == D("400.00")
    event = ClaimEvent.objects.filter(claim=claim).latest("id")
    assert (event.kind, event.reason, event.data["to"]) == ("reserve_set", "Expert's report", "400.00")
    assert_consistent(claim)


@pytest.mark.parametrize("status", [S.DENIED, S.CLOSED])
def test_reserves_of_a_denied_or_closed_claim_are_a_409(superuser, status):
    # given
    claim = in_status(superuser, status)
    before = written()

    # when / then
    with pytest.raises(TransitionNotAllowed, match=f"{status} claim cannot be set"):
        fin.claim_reserve_set(
            actor=superuser, claim_id=claim.pk, cost_type="expense", amount=D("100.00"), reason="Late invoice"
        )
    assert written() == before


def test_the_indemnity_reserve_is_bounded_by_the_coverage_less_the_indemnity_paid(superuser):
    # given: coverage 10,000.00, 3,000.00 of indemnity paid
    claim = approved_claim(superuser, "3000.00", coverage="10000.00")
    fin.payment_issue(actor=superuser, payment_id=request(superuser, claim, "3000.00").pk)
    before = written()

    # when / then: 7,000.00 is the most
    with pytest.raises(
        BusinessRuleViolation, match=r"exceeds the coverage of 10,000.00 EUR less the 3,000.00 EUR"
    ) as refused:
        fin.claim_reserve_set(
            actor=superuser,
            claim_id=claim.pk,
            cost_type="indemnity",
            amount=D("7000.01"),
            reason="Further damage found",
        )
    assert refused.value.status_code == 400
    assert written() == before
    fin.claim_reserve_set(
        actor=superuser, claim_id=claim.pk, cost_type="indemnity", amount=D("7000.00"), reason="Further damage found"
    )
    assert fresh(claim).reserve_indemnity == D("7000.00")


def test_a_reserve_above_the_actors_authority_is_a_403_naming_the_limit(adjuster):
    # given: an adjuster (authority 10,000.00)
    claim = file_claim(adjuster, "8000.00")
    before = written()

    # when / then
    with pytest.raises(
        AuthorityExceeded,
        match=r"A reserve of 10,000.01 EUR exceeds your authority limit of "
        r"10,000.00 EUR",
    ) as refused:
        fin.claim_reserve_set(
            actor=adjuster, claim_id=claim.pk, cost_type="indemnity", amount=D("10000.01"), reason="Higher estimate"
        )
    assert refused.value.status_code == 403
    assert written() == before
    fin.claim_reserve_set(
        actor=adjuster, claim_id=claim.pk, cost_type="indemnity", amount=D("10000.00"), reason="Higher estimate"
    )


def test_a_reserve_cannot_fall_below_what_unissued_payments_hold(superuser):
    # given: 3,000.00 of indemnity requested and approved, not yet issued
    claim = approved_claim(superuser, "8000.00")
    request(superuser, claim, "3000.00")
    before = written()

    # when / then
    with pytest.raises(BusinessRuleViolation, match=r"payments not yet issued hold 3,000.00 EUR"):
        fin.claim_reserve_set(
            actor=superuser, claim_id=claim.pk, cost_type="indemnity", amount=D("2999.99"), reason="Lower estimate"
        )
    assert written() == before


def test_a_reserve_of_zero_closes_it(superuser):
    # given
    claim = file_claim(superuser, "500.00")

    # when
    fin.claim_reserve_set(
        actor=superuser, claim_id=claim.pk, cost_type="indemnity", amount=0, reason="Claim withdrawn by phone"
    )

    # then
    assert totals(claim)["reserve_indemnity"] == totals(claim)["gross_incurred"] == D("0.00")
    assert_consistent(claim)


def test_setting_a_reserve_needs_the_permission(customer_service, finance, superuser):
    # given
    claim = file_claim(superuser)

    # when / then: neither customer service nor finance sets reserves
    for actor in (customer_service, finance):
        with pytest.raises(NotPermitted):
            fin.claim_reserve_set(actor=actor, claim_id=claim.pk, cost_type="indemnity", amount=D("1.00"), reason="x")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": D("-1.00")}, "amount"),
        ({"amount": D("10.001")}, "amount"),
        ({"amount": D("10000000000000.00")}, "amount"),
        ({"amount": D("NaN")}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": None}, "amount"),
        ({"cost_type": "legal"}, "cost_type"),
        ({"reason": "   "}, "reason"),
        ({"reason": "a\x00b"}, "reason"),
        ({"reason": "x" * 2001}, "reason"),
    ],
)
def test_bad_reserve_input_is_a_422_and_writes_nothing(superuser, fields, field):
    # given
    claim = file_claim(superuser)
    before = written()

    # when / then
    with pytest.raises(ValidationError) as refused:
        fin.claim_reserve_set(
            actor=superuser,
            claim_id=claim.pk,
            **{"cost_type": "indemnity", "amount": D("100.00"), "reason": "Estimate", **fields},
        )
    assert field in refused.value.message_dict
    assert written() == before


# --- payment requests ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [S.PENDING, S.PROCESSING])
def test_an_indemnity_payment_needs_an_approved_claim(superuser, status):
    # given
    claim = in_status(superuser, status)
    before = written()

    # when / then
    with pytest.raises(BusinessRuleViolation, match=f"needs an approved claim; this claim is {status}") as refused:
        request(superuser, claim, "100.00")
    assert refused.value.status_code == 400
    assert written() == before


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (S.PENDING, BusinessRuleViolation, 400),
        (S.DENIED, TransitionNotAllowed, 409),
        (S.CLOSED, TransitionNotAllowed, 409),
    ],
)
def test_an_expense_payment_needs_a_claim_past_pending_and_not_settled_against(superuser, status, error, code):
    # given: an expense reserve, set while the claim could still take one
    claim = file_claim(superuser, "3000.00")
    fin.claim_reserve_set(actor=superuser, claim_id=claim.pk, cost_type="expense", amount=D("500.00"), reason="Expert")
    if status != S.PENDING:
        claim_services.claim_deny(actor=superuser, claim_id=claim.pk, reason="Not covered")
    if status == S.CLOSED:
        claim_services.claim_close(actor=superuser, claim_id=claim.pk)
    before = written()

    # when / then
    with pytest.raises(error) as refused:
        request(superuser, claim, "100.00", "expense")
    assert refused.value.status_code == code
    assert written() == before


@pytest.mark.parametrize("status", [S.PROCESSING, S.APPROVED, S.PAID])
def test_an_expense_payment_is_taken_from_processing_on(superuser, status):
    # given
    claim = in_status(superuser, status)
    fin.claim_reserve_set(actor=superuser, claim_id=claim.pk, cost_type="expense", amount=D("500.00"), reason="Expert")

    # when
    payment = request(superuser, claim, "500.00", "expense", payee_name="Dr. Ivo Brandt")

    # then
    assert payment.status == P.APPROVED and payment.payment_number.startswith("PAY-")


def test_a_payment_above_the_open_reserve_is_a_400_naming_both_figures(superuser):
    # given: an indemnity reserve of 8,000.00, of which 5,000.00 is held by an unissued payment
    claim = approved_claim(superuser, "8000.00")
    request(superuser, claim, "5000.00")
    before = written()

    # when / then: 3,000.00 is what is open
    with pytest.raises(
        BusinessRuleViolation,
        match=r"payment of 3,000.01 EUR exceeds the open indemnity reserve "
        r"of 3,000.00 EUR",
    ):
        request(superuser, claim, "3000.01")
    assert written() == before
    request(superuser, claim, "3000.00")


def test_indemnity_requested_approved_and_issued_stays_within_the_approved_amount(superuser):
    # given: reserved 8,000.00 but approved at 6,000.00; 2,000 issued, 3,000 requested
    claim = approved_claim(superuser, "8000.00", "6000.00")
    fin.payment_issue(actor=superuser, payment_id=request(superuser, claim, "2000.00").pk)
    request(superuser, claim, "3000.00")
    before = written()

    # when / then
    with pytest.raises(BusinessRuleViolation, match=r"to 6,000.01 EUR, above the approved amount of 6,000.00 EUR"):
        request(superuser, claim, "1000.01")
    assert written() == before
    request(superuser, claim, "1000.00")


def test_four_eyes_a_payment_within_the_limit_and_the_requesters_authority_is_approved_at_once(adjuster):
    # given
    claim = file_claim(adjuster, "5000.00")
    claim_services.claim_approve(actor=adjuster, claim_id=claim.pk)

    # when
    payment = request(adjuster, claim, "5000.00")

    # then
    assert (payment.status, payment.requested_by, payment.approved_by) == (P.APPROVED, adjuster, adjuster)
    assert payment.approved_at == payment.requested_at
    event = ClaimEvent.objects.filter(claim=claim).latest("id")
    assert (event.kind, event.from_status, event.to_status, event.data["four_eyes"]) == (
        "payment_requested",
        "",
        "approved",
        False,
    )


def test_four_eyes_a_payment_above_the_limit_waits_for_approval(superuser):
    # given: even an unlimited superuser
    claim = approved_claim(superuser, "8000.00")

    # when
    payment = request(superuser, claim, "5000.01")

    # then
    assert (payment.status, payment.approved_by, payment.approved_at) == (P.REQUESTED, None, None)


def test_four_eyes_a_payment_above_the_requesters_authority_waits_for_approval(settings, adjuster, superuser):
    # given: the four-eyes limit out of the way; the adjuster's authority is 10,000.00
    settings.PAYMENT_FOUR_EYES_LIMIT = D("50000.00")
    claim = approved_claim(superuser, "25000.00")

    # when
    within, above = request(adjuster, claim, "10000.00"), request(adjuster, claim, "10000.01")

    # then
    assert (within.status, above.status) == (P.APPROVED, P.REQUESTED)


def test_four_eyes_the_requester_cannot_approve_their_own_payment(manager):
    # given
    claim = approved_claim(manager, "8000.00")
    payment = request(manager, claim, "6000.00")
    before = written()

    # when / then
    with pytest.raises(NotPermitted, match="four-eyes") as refused:
        fin.payment_approve(actor=manager, payment_id=payment.pk)
    assert refused.value.status_code == 403
    assert written() == before


def test_four_eyes_an_approver_without_enough_authority_is_refused(manager, other_manager):
    # given: a second manager whose own limit is 6,000.00
    other_manager.authority_limit = D("6000.00")
    other_manager.save()
    claim = approved_claim(manager, "8000.00")
    payment = request(manager, claim, "7000.00")
    before = written()

    # when / then
    with pytest.raises(
        AuthorityExceeded,
        match=r"Approval of 7,000.00 EUR exceeds your authority limit of "
        r"6,000.00 EUR",
    ) as refused:
        fin.payment_approve(actor=other_manager, payment_id=payment.pk)
    assert refused.value.status_code == 403
    assert written() == before


def test_four_eyes_a_second_user_with_enough_authority_approves(manager, other_manager):
    # given
    claim = approved_claim(manager, "8000.00")
    payment = request(manager, claim, "7000.00")

    # when
    approved = fin.payment_approve(actor=other_manager, payment_id=payment.pk)

    # then
    approved.refresh_from_db()
    assert (approved.status, approved.requested_by, approved.approved_by) == (P.APPROVED, manager, other_manager)
    assert approved.approved_at is not None
    event = ClaimEvent.objects.filter(claim=claim).latest("id")
    assert (event.kind, event.actor, event.from_status, event.to_status) == (
        "payment_approved",
        other_manager,
        "requested",
        "approved",
    )
    # and again: unchanged, no second event
    events = ClaimEvent.objects.count()
    assert fin.payment_approve(actor=other_manager, payment_id=payment.pk).status == P.APPROVED
    assert ClaimEvent.objects.count() == events


def test_an_adjuster_cannot_approve_payments(adjuster, manager):
    # given
    claim = approved_claim(manager, "8000.00")
    payment = request(manager, claim, "6000.00")

    # when / then
    with pytest.raises(NotPermitted):
        fin.payment_approve(actor=adjuster, payment_id=payment.pk)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": D("0")}, "amount"),
        ({"amount": D("-5.00")}, "amount"),
        ({"amount": D("1.005")}, "amount"),
        ({"amount": D("1E+20")}, "amount"),
        ({"amount": D("Infinity")}, "amount"),
        ({"cost_type": "legal"}, "cost_type"),
        ({"method": "cash"}, "method"),
        ({"payee_name": ""}, "payee_name"),
        ({"payee_name": "x" * 201}, "payee_name"),
        ({"payee_account": "1" * 65}, "payee_account"),
        ({"reference": "r" * 101}, "reference"),
        ({"payee_is_policyholder": "yes"}, "payee_is_policyholder"),
    ],
)
def test_bad_payment_input_is_a_422_and_writes_nothing(superuser, fields, field):
    # given
    claim = approved_claim(superuser, "8000.00")
    before = written()
    payload = {
        "cost_type": "indemnity",
        "amount": D("100.00"),
        "payee_name": "Ann",
        "payee_account": IBAN,
        "method": "cheque",
        **fields,
    }

    # when / then
    with pytest.raises(ValidationError) as refused:
        fin.payment_request(actor=superuser, claim_id=claim.pk, **payload)
    assert field in refused.value.message_dict
    assert written() == before


def test_every_bad_field_is_reported_at_once(superuser):
    # given
    claim = approved_claim(superuser)

    # when / then
    with pytest.raises(ValidationError) as refused:
        fin.payment_request(
            actor=superuser, claim_id=claim.pk, cost_type="legal", amount=D("-1"), payee_name="", method="cash"
        )
    assert set(refused.value.message_dict) == {"cost_type", "amount", "payee_name", "method"}


def test_requesting_needs_the_permission(finance, superuser):
    # given
    claim = approved_claim(superuser)

    # when / then
    with pytest.raises(NotPermitted):
        request(finance, claim, "100.00")


# --- issue, the claim moving to paid, void ----------------------------------------------------------------
def test_issuing_erodes_the_reserve_and_the_claim_is_paid_exactly_when_the_approved_amount_is_reached(
    superuser, finance
):
    # given: approved at 3,000.00
    claim = approved_claim(superuser, "3000.00")
    first, second = request(superuser, claim, "1000.00"), request(superuser, claim, "2000.00")
    outbox = OutboxMessage.objects.count()

    # when: the first payment leaves
    fin.payment_issue(actor=finance, payment_id=first.pk)

    # then: its reserve change, still approved, no notification
    change = ReserveChange.objects.filter(claim=claim).latest("created_at")
    assert (change.previous_amount, change.new_amount, change.reason, change.actor) == (
        D("3000.00"),
        D("2000.00"),
        f"payment {first.payment_number}",
        finance,
    )
    first.refresh_from_db()
    assert (first.status, first.issued_by) == (P.ISSUED, finance) and first.issued_at is not None
    assert fresh(claim).status == S.APPROVED
    assert (totals(claim)["paid_indemnity"], totals(claim)["gross_incurred"]) == (D("1000.00"), D("3000.00"))
    assert OutboxMessage.objects.count() == outbox

    # when: the second one reaches the approved amount
    fin.payment_issue(actor=finance, payment_id=second.pk)

    # then: paid by itself, with its event and the customer's notification
    assert fresh(claim).status == S.PAID
    moved = ClaimEvent.objects.filter(claim=claim, kind="status_changed").latest("id")
    assert (moved.from_status, moved.to_status, moved.actor) == ("approved", "paid", finance)
    assert second.payment_number in moved.reason
    notified = OutboxMessage.objects.order_by("-id").first()
    assert OutboxMessage.objects.count() == outbox + 1
    assert (notified.task, notified.kwargs) == ("claims.tasks.notify_claim_status", {"claim_id": str(claim.pk)})
    assert totals(claim)["reserve_indemnity"] == D("0.00")
    assert_consistent(claim)


def test_an_expense_payment_issued_does_not_settle_the_claim(superuser):
    # given
    claim = approved_claim(superuser, "3000.00")
    fin.claim_reserve_set(actor=superuser, claim_id=claim.pk, cost_type="expense", amount=D("3000.00"), reason="Legal")

    # when
    fin.payment_issue(actor=superuser, payment_id=request(superuser, claim, "3000.00", "expense").pk)

    # then
    assert fresh(claim).status == S.APPROVED
    assert totals(claim)["paid_expense"] == D("3000.00")


def test_a_requested_payment_cannot_be_issued(superuser, finance):
    # given
    claim = approved_claim(superuser, "8000.00")
    payment = request(superuser, claim, "6000.00")
    before = written()

    # when / then
    with pytest.raises(TransitionNotAllowed, match="requested payment cannot be issued: it awaits approval"):
        fin.payment_issue(actor=finance, payment_id=payment.pk)
    assert written() == before


def test_only_finance_issues_cancels_and_voids(manager):
    # given
    claim = approved_claim(manager, "3000.00")
    payment = request(manager, claim, "1000.00")

    # when / then
    for service, kwargs in (
        (fin.payment_issue, {}),
        (fin.payment_cancel, {"reason": "x"}),
        (fin.payment_void, {"reason": "x"}),
    ):
        with pytest.raises(NotPermitted):
            service(actor=manager, payment_id=payment.pk, **kwargs)


def test_voiding_restores_the_reserve_and_a_paid_claim_goes_back_to_approved(superuser, finance):
    # given: paid in full by one payment
    claim = approved_claim(superuser, "3000.00")
    payment = request(superuser, claim, "3000.00")
    fin.payment_issue(actor=finance, payment_id=payment.pk)
    assert fresh(claim).status == S.PAID

    # when
    fin.payment_void(actor=finance, payment_id=payment.pk, reason="Transfer returned: account closed")

    # then
    payment.refresh_from_db()
    assert (payment.status, payment.voided_by, payment.void_reason) == (
        P.VOIDED,
        finance,
        "Transfer returned: account closed",
    )
    assert fresh(claim).status == S.APPROVED
    assert totals(claim)["paid_indemnity"] == D("0.00")
    assert totals(claim)["reserve_indemnity"] == D("3000.00")
    change = ReserveChange.objects.filter(claim=claim).latest("created_at")
    assert (change.previous_amount, change.new_amount) == (D("0.00"), D("3000.00"))
    back = ClaimEvent.objects.filter(claim=claim, kind="status_changed").latest("id")
    assert (back.from_status, back.to_status) == ("paid", "approved")
    kinds = list(ClaimEvent.objects.filter(claim=claim).order_by("id").values_list("kind", flat=True))
    assert kinds[-2:] == ["payment_voided", "status_changed"]
    assert_consistent(claim)
    # and: it can be paid again
    fin.payment_issue(actor=finance, payment_id=request(superuser, claim, "3000.00").pk)
    assert fresh(claim).status == S.PAID


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_voiding_without_a_reason_is_a_422_and_writes_nothing(superuser, finance, reason):
    # given
    claim = approved_claim(superuser, "3000.00")
    payment = request(superuser, claim, "1000.00")
    fin.payment_issue(actor=finance, payment_id=payment.pk)
    before = written()

    # when / then
    with pytest.raises(ValidationError) as refused:
        fin.payment_void(actor=finance, payment_id=payment.pk, reason=reason)
    assert "reason" in refused.value.message_dict
    assert written() == before


@pytest.mark.parametrize("status", [P.REQUESTED, P.APPROVED, P.CANCELLED])
def test_only_an_issued_payment_can_be_voided(superuser, finance, status):
    # given
    claim = approved_claim(superuser, "8000.00")
    payment = request(superuser, claim, "6000.00" if status == P.REQUESTED else "1000.00")
    if status == P.CANCELLED:
        fin.payment_cancel(actor=finance, payment_id=payment.pk, reason="Duplicate")
    before = written()

    # when / then
    with pytest.raises(TransitionNotAllowed, match=f"{status} payment cannot be voided"):
        fin.payment_void(actor=finance, payment_id=payment.pk, reason="Mistake")
    assert written() == before


def test_a_closed_claims_payments_cannot_be_voided(superuser, finance):
    # given
    claim = approved_claim(superuser, "3000.00")
    payment = request(superuser, claim, "3000.00")
    fin.payment_issue(actor=finance, payment_id=payment.pk)
    claim_services.claim_close(actor=superuser, claim_id=claim.pk)
    before = written()

    # when / then
    with pytest.raises(TransitionNotAllowed, match="reopen the claim first"):
        fin.payment_void(actor=finance, payment_id=payment.pk, reason="Cheque stopped")
    assert written() == before


# --- cancel ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("amount", ["6000.00", "1000.00"])  # requested, approved
def test_cancelling_moves_no_money_and_opens_the_reserve_again(superuser, finance, amount):
    # given
    claim = approved_claim(superuser, "8000.00")
    payment = request(superuser, claim, amount)
    held = totals(claim)

    # when
    fin.payment_cancel(actor=finance, payment_id=payment.pk, reason="Paid by the third party's insurer")

    # then
    payment.refresh_from_db()
    assert (payment.status, payment.cancelled_by, payment.cancel_reason) == (
        P.CANCELLED,
        finance,
        "Paid by the third party's insurer",
    )
    assert totals(claim) == held
    request(superuser, claim, "8000.00")  # the whole reserve is open again


@pytest.mark.parametrize("target", ["approve", "issue"])
def test_a_cancelled_payment_cannot_be_approved_or_issued(superuser, other_manager, finance, target):
    # given
    claim = approved_claim(superuser, "8000.00")
    payment = request(superuser, claim, "6000.00")
    fin.payment_cancel(actor=finance, payment_id=payment.pk, reason="Duplicate")
    before = written()

    # when / then
    with pytest.raises(TransitionNotAllowed, match="cancelled payment cannot be"):
        if target == "approve":
            fin.payment_approve(actor=other_manager, payment_id=payment.pk)
        else:
            fin.payment_issue(actor=finance, payment_id=payment.pk)
    assert written() == before


def test_an_issued_payment_cannot_be_cancelled(superuser, finance):
    # given
    claim = approved_claim(superuser, "3000.00")
    payment = request(superuser, claim, "1000.00")
    fin.payment_issue(actor=finance, payment_id=payment.pk)
    before = written()

    # when / then
    with pytest.raises(TransitionNotAllowed, match="issued payment cannot be cancelled: void it instead"):
        fin.payment_cancel(actor=finance, payment_id=payment.pk, reason="Wrong payee")
    with pytest.raises(ValidationError):
        fin.payment_cancel(actor=finance, payment_id=payment.pk, reason="")
    assert written() == before


def test_an_unknown_payment_is_not_found(finance):
    # when / then
    with pytest.raises(ClaimPayment.DoesNotExist):
        fin.payment_issue(actor=finance, payment_id=uuid.uuid4())


# --- marking paid by hand, closing, reopening -----------------------------------------------------------
def test_marking_paid_by_hand_is_a_409_naming_the_unpaid_balance(superuser):
    # given: approved at 3,000.00, 1,000.00 issued
    claim = approved_claim(superuser, "3000.00")
    fin.payment_issue(actor=superuser, payment_id=request(superuser, claim, "1000.00").pk)
    before = written()

    # when / then: the service, and the status change the API's PATCH makes
    for mark in (
        lambda: claim_services.claim_mark_paid(actor=superuser, claim_id=claim.pk),
        lambda: claim_services.claim_set_status(actor=superuser, claim_id=claim.pk, status="paid"),
    ):
        with pytest.raises(
            TransitionNotAllowed, match=r"2,000.00 EUR of the approved 3,000.00 EUR is unpaid"
        ) as refused:
            mark()
        assert refused.value.status_code == 409
    assert written() == before


def test_marking_paid_by_hand_once_the_issued_indemnity_equals_the_approved_amount(superuser):
    # given: paid in full, closed, reopened and approved again for the same amount: approved, nothing owed
    claim = approved_claim(superuser, "3000.00")
    fin.payment_issue(actor=superuser, payment_id=request(superuser, claim, "3000.00").pk)
    claim_services.claim_close(actor=superuser, claim_id=claim.pk)
    claim_services.claim_reopen(actor=superuser, claim_id=claim.pk, reason="Customer disputes the settlement")
    claim_services.claim_approve(actor=superuser, claim_id=claim.pk, amount=D("3000.00"))
    assert fresh(claim).status == S.APPROVED

    # when
    claim_services.claim_mark_paid(actor=superuser, claim_id=claim.pk)

    # then
    assert fresh(claim).status == S.PAID
    assert_consistent(claim)


def test_closing_zeroes_every_open_reserve(superuser):
    # given: a paid claim with indemnity reserve left (claimed 5,000, approved and paid 3,000) and an expense reserve
    claim = approved_claim(superuser, "5000.00", "3000.00")
    fin.payment_issue(actor=superuser, payment_id=request(superuser, claim, "3000.00").pk)
    fin.claim_reserve_set(actor=superuser, claim_id=claim.pk, cost_type="expense", amount=D("250.00"), reason="Expert")

    # when
    claim_services.claim_close(actor=superuser, claim_id=claim.pk, reason="Settled")

    # then
    closed = ReserveChange.objects.filter(claim=claim, reason="claim closed")
    assert sorted(closed.values_list("cost_type", "previous_amount", "new_amount")) == [
        ("expense", D("250.00"), D("0.00")),
        ("indemnity", D("2000.00"), D("0.00")),
    ]
    assert totals(claim) == {
        **dict.fromkeys(TOTALS, D("0.00")),
        "paid_indemnity": D("3000.00"),
        "gross_incurred": D("3000.00"),
        "net_incurred": D("3000.00"),
    }
    event = ClaimEvent.objects.filter(claim=claim, kind="status_changed").latest("id")
    assert event.to_status == "closed" and event.data["reserves_closed"] == {
        "indemnity": "2000.00",
        "expense": "250.00",
    }
    assert_consistent(claim)


def test_closing_a_denied_claim_zeroes_its_initial_reserve(superuser):
    # when
    claim = in_status(superuser, S.CLOSED)

    # then
    assert totals(claim)["reserve_indemnity"] == totals(claim)["gross_incurred"] == D("0.00")
    assert_consistent(claim)


@pytest.mark.parametrize("amount", ["6000.00", "1000.00"])  # requested, approved
def test_closing_is_refused_while_a_payment_awaits_issue(superuser, finance, amount):
    # given: paid in indemnity, an expense payment not yet issued
    claim = approved_claim(superuser, "3000.00")
    fin.payment_issue(actor=superuser, payment_id=request(superuser, claim, "3000.00").pk)
    fin.claim_reserve_set(
        actor=superuser, claim_id=claim.pk, cost_type="expense", amount=D("8000.00"), reason="Counsel"
    )
    waiting = request(superuser, claim, amount, "expense")
    before = written()

    # when / then
    with pytest.raises(
        TransitionNotAllowed, match=f"while 1 payment awaits issue \\({waiting.payment_number}\\)"
    ) as refused:
        claim_services.claim_close(actor=superuser, claim_id=claim.pk)
    assert refused.value.status_code == 409
    assert written() == before
    # and: once it is issued (or cancelled), the claim closes
    fin.payment_cancel(actor=finance, payment_id=waiting.pk, reason="Counsel not instructed")
    claim_services.claim_close(actor=superuser, claim_id=claim.pk)
    assert fresh(claim).status == S.CLOSED


def test_reopening_lets_reserves_be_set_again(superuser):
    # given
    claim = in_status(superuser, S.CLOSED)

    # when
    claim_services.claim_reopen(actor=superuser, claim_id=claim.pk, reason="New evidence")
    fin.claim_reserve_set(
        actor=superuser, claim_id=claim.pk, cost_type="indemnity", amount=D("2500.00"), reason="New evidence"
    )

    # then
    assert totals(claim)["reserve_indemnity"] == D("2500.00")
    assert_consistent(claim)


# --- recoveries -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [S.APPROVED, S.PAID, S.CLOSED])
def test_recoveries_are_recorded_on_approved_paid_or_closed_claims(superuser, finance, status):
    # given
    claim = in_status(superuser, S.APPROVED)
    if status != S.APPROVED:
        fin.payment_issue(actor=superuser, payment_id=request(superuser, claim, "3000.00").pk)
    if status == S.CLOSED:
        claim_services.claim_close(actor=superuser, claim_id=claim.pk)
    before = totals(claim)

    # when
    recovery = fin.recovery_record(
        actor=finance,
        claim_id=claim.pk,
        kind="subrogation",
        amount=D("450.00"),
        source="Third party's insurer",
        reference="TP-99812",
    )

    # then
    assert (recovery.kind, recovery.amount, recovery.actor) == ("subrogation", D("450.00"), finance)
    after = totals(claim)
    assert after["recovered"] == D("450.00")
    assert after["net_incurred"] == before["gross_incurred"] - D("450.00") == after["gross_incurred"] - D("450.00")
    assert fresh(claim).status == status  # no reopening needed
    assert ClaimEvent.objects.filter(claim=claim).latest("id").kind == "recovery_recorded"
    assert_consistent(claim)


@pytest.mark.parametrize("status", [S.PENDING, S.PROCESSING, S.DENIED])
def test_a_recovery_on_a_claim_not_yet_approved_or_denied_is_a_409(superuser, finance, status):
    # given
    claim = in_status(superuser, status)
    before = written()

    # when / then
    with pytest.raises(TransitionNotAllowed, match=f"this claim is {status}"):
        fin.recovery_record(actor=finance, claim_id=claim.pk, kind="salvage", amount=D("10.00"), source="Yard")
    assert written() == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": D("0.00")}, "amount"),
        ({"amount": D("0.001")}, "amount"),
        ({"kind": "refund"}, "kind"),
        ({"source": ""}, "source"),
        ({"received_at": timezone.now() + dt.timedelta(days=2)}, "received_at"),
        ({"received_at": dt.datetime(2026, 1, 1)}, "received_at"),  # naive: no offset
    ],
)
def test_bad_recovery_input_is_a_422_and_writes_nothing(superuser, finance, fields, field):
    # given
    claim = in_status(superuser, S.APPROVED)
    before = written()

    # when / then
    with pytest.raises(ValidationError) as refused:
        fin.recovery_record(
            actor=finance, claim_id=claim.pk, **{"kind": "salvage", "amount": D("10.00"), "source": "Yard", **fields}
        )
    assert field in refused.value.message_dict
    assert written() == before


# --- the payee's account: never in clear --------------------------------------------------------------------
def _text_columns() -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.data_type IN "
            "('text', 'character varying', 'character', 'json', 'jsonb', 'bytea')"
        )
        return cursor.fetchall()


def _found_in_database(needle: str) -> list[str]:
    hits = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, column, data_type in _text_columns():
            value = f"encode({quote(column)}, 'escape')" if data_type == "bytea" else f"{quote(column)}::text"
            cursor.execute(
                f"SELECT 1 FROM {quote(table)} WHERE strpos({value}, %s) > 0 LIMIT 1",  # noqa: S608
                [needle],
            )
            if cursor.fetchone():
                hits.append(f"{table}.{column}")
    return hits


def test_the_payee_account_never_appears_in_clear(superuser, other_manager, finance, caplog):
    # given / when: a payment through every step, with the audit actor set as the interfaces set it
    with caplog.at_level(logging.DEBUG), set_actor(superuser):
        claim = approved_claim(superuser, "8000.00")
        payment = request(superuser, claim, "6000.00", payee_name="Ann Holder", payee_is_policyholder=True)
        fin.payment_approve(actor=other_manager, payment_id=payment.pk)
        fin.payment_issue(actor=finance, payment_id=payment.pk)
        fin.payment_void(actor=finance, payment_id=payment.pk, reason="Returned")

    # then: the model reads it back, but no column of any table holds it in clear (its bytes are ciphertext)
    assert ClaimPayment.objects.get(pk=payment.pk).payee_account == IBAN
    assert _found_in_database(IBAN) == []
    assert _found_in_database(IBAN[-8:]) == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT payee_account FROM claims_claimpayment WHERE id = %s", [payment.pk])
        raw = bytes(cursor.fetchone()[0])
    assert IBAN.encode() not in raw and raw[:1] == b"\x80"  # a Fernet token
    # the audit trail records the field, masked
    entries = AuditEntry.objects.filter(object_pk=str(payment.pk))
    assert entries.count() == 4  # created, approved, issued, voided
    created = entries.get(action=AuditEntry.Action.CREATE)
    assert created.changes["payee_account"][1] == "[redacted]"
    assert created.changes["payee_name"][1] == "Ann Holder"
    # and no log line carries it
    assert caplog.records
    assert IBAN not in caplog.text and IBAN[-8:] not in caplog.text


def test_payments_are_stamped_with_the_encryption_key_they_were_written_with(superuser, settings):
    # given
    claim = approved_claim(superuser, "3000.00")

    # when
    payment = request(superuser, claim, "100.00")

    # then: the key rotation command finds them by it
    assert payment.encryption_key_id == settings.ENCRYPTION_KEY_ID
