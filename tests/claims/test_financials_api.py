"""A claim's money through the API (SPEC §10.4): every endpoint's success and each status code of §10, the payee
account masked in every response, constant query counts of the lists, and the end-to-end flow of issue 10."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from claims.financials import services
from claims.financials.schemas import (
    ClaimFinancials,
    PaymentPage,
    PaymentResponse,
    RecoveryPage,
    RecoveryResponse,
    ReserveChangePage,
    ReserveChangeResponse,
)
from claims.models import Claim, ClaimEvent, ClaimPayment, ClaimRecovery, ReserveChange
from tests import factories
from tests.api_client import assert_problem
from vanguard.accounts import roles

pytestmark = pytest.mark.django_db

ACCOUNT = "GB33BUKB20201555554321"
MASKED = "•••• 4321"
S = Claim.Status
TOTALS = (
    "reserve_indemnity",
    "reserve_expense",
    "paid_indemnity",
    "paid_expense",
    "recovered",
    "gross_incurred",
    "net_incurred",
)


@pytest.fixture
def finance(db):
    return factories.staff(roles.FINANCE)


@pytest.fixture
def boss(db):
    return factories.UserFactory(superuser=True)


def reserved_claim(boss, *, indemnity: str = "1000.00", expense: str | None = None, **traits) -> Claim:
    """A claim (approved by default, 1,000.00 claimed and approved) with open reserves set by the service."""
    claim = factories.ClaimFactory(**({"approved": True} | traits))
    services.claim_reserve_set(
        actor=boss, claim_id=claim.pk, cost_type="indemnity", amount=Decimal(indemnity), reason="assessed"
    )
    if expense is not None:
        services.claim_reserve_set(
            actor=boss, claim_id=claim.pk, cost_type="expense", amount=Decimal(expense), reason="expert fee"
        )
    claim.refresh_from_db()
    return claim


def payment_body(**overrides) -> dict:
    return {
        "cost_type": "indemnity",
        "amount": "400.00",
        "payee_name": "Ada Lovelace",
        "payee_account": ACCOUNT,
        "payee_is_policyholder": True,
        "method": "bank_transfer",
        "reference": "INV-1",
        **overrides,
    }


def request_payment(actor, claim: Claim, **overrides) -> ClaimPayment:
    data = payment_body(**overrides)
    data["amount"] = Decimal(data["amount"])
    return services.payment_request(actor=actor, claim_id=claim.pk, **data)


def assert_masked(response) -> None:
    """The payee account never leaves in clear: only its last four characters, wherever it appears."""
    assert ACCOUNT.encode() not in response.content
    assert ACCOUNT[:-4].encode() not in response.content


# --- totals ------------------------------------------------------------------------------------------------
def test_financials_are_the_seven_totals_as_money_strings_and_the_currency(api_as, adjuster, boss):
    # given: an indemnity reserve of 1,000.00 and an expense reserve of 250.00
    claim = reserved_claim(boss, expense="250.00")
    # when
    response = api_as(adjuster).get(f"/api/claims/{claim.pk}/financials")
    # then
    assert response.status_code == 200, response.content
    ClaimFinancials.model_validate(response.json())
    assert response.json() == {
        "reserve_indemnity": "1000.00",
        "reserve_expense": "250.00",
        "paid_indemnity": "0.00",
        "paid_expense": "0.00",
        "recovered": "0.00",
        "gross_incurred": "1250.00",
        "net_incurred": "1250.00",
        "currency": "EUR",
    }


def test_financials_of_an_unknown_claim_is_404_and_without_permission_403(api_as, adjuster, underwriter):
    assert_problem(api_as(adjuster).get(f"/api/claims/{uuid.uuid4()}/financials"), 404, "NOT_FOUND")
    claim = factories.ClaimFactory()
    assert_problem(api_as(underwriter).get(f"/api/claims/{claim.pk}/financials"), 403, "FORBIDDEN")


def test_the_claim_response_carries_the_totals_on_the_detail_and_in_the_list(api_as, adjuster, boss):
    # given
    claim = reserved_claim(boss, indemnity="900.00")
    client = api_as(adjuster)
    # when
    detail = client.get(f"/api/claims/{claim.pk}").json()
    listed = client.get("/api/claims", {"policy_id": str(claim.policy_id)}).json()["items"][0]
    # then
    for body in (detail, listed):
        assert {name: body[name] for name in TOTALS} == {
            "reserve_indemnity": "900.00",
            "reserve_expense": "0.00",
            "paid_indemnity": "0.00",
            "paid_expense": "0.00",
            "recovered": "0.00",
            "gross_incurred": "900.00",
            "net_incurred": "900.00",
        }


# --- reserves ----------------------------------------------------------------------------------------------
def test_setting_a_reserve_is_201_and_listed(api_as, adjuster, boss):
    # given
    claim = reserved_claim(boss)
    client = api_as(adjuster)
    # when
    response = client.post(
        f"/api/claims/{claim.pk}/reserves", {"cost_type": "indemnity", "amount": 1200, "reason": "Second estimate"}
    )
    # then
    assert response.status_code == 201, response.content
    body = ReserveChangeResponse.model_validate(response.json())
    assert (response.json()["previous_amount"], response.json()["new_amount"]) == ("1000.00", "1200.00")
    assert body.actor_id == adjuster.pk and body.claim_id == claim.pk
    claim.refresh_from_db()
    assert claim.reserve_indemnity == Decimal("1200.00")
    listed = client.get(f"/api/claims/{claim.pk}/reserves")
    assert listed.status_code == 200
    page = ReserveChangePage.model_validate(listed.json())
    assert page.total == 2 and page.items[0].id == body.id  # newest first


def test_a_reserve_of_zero_closes_it(api_as, adjuster, boss):
    claim = reserved_claim(boss, expense="300.00")
    response = api_as(adjuster).post(
        f"/api/claims/{claim.pk}/reserves", {"cost_type": "expense", "amount": "0", "reason": "Expert not needed"}
    )
    assert response.status_code == 201, response.content
    assert response.json()["new_amount"] == "0.00"
    claim.refresh_from_db()
    assert claim.reserve_expense == Decimal("0.00")


@pytest.mark.parametrize("traits", [{"denied": True}, {"closed": True}], ids=["denied", "closed"])
def test_a_reserve_on_a_denied_or_closed_claim_is_409(api_as, adjuster, traits):
    claim = factories.ClaimFactory(**traits)
    response = api_as(adjuster).post(
        f"/api/claims/{claim.pk}/reserves", {"cost_type": "indemnity", "amount": "100.00", "reason": "x"}
    )
    assert_problem(response, 409, "CONFLICT")
    assert not ReserveChange.objects.filter(claim=claim).exists()


def test_an_indemnity_reserve_above_the_coverage_is_400(api_as, manager):
    claim = factories.ClaimFactory(approved=True, policy=factories.PolicyFactory(coverage_amount=Decimal("5000.00")))
    response = api_as(manager).post(
        f"/api/claims/{claim.pk}/reserves", {"cost_type": "indemnity", "amount": "5000.01", "reason": "x"}
    )
    assert_problem(response, 400, "BUSINESS_RULE")
    assert not ReserveChange.objects.filter(claim=claim).exists()


def test_a_reserve_above_the_authority_limit_is_403_naming_it(api_as, adjuster):
    claim = factories.ClaimFactory(approved=True)
    response = api_as(adjuster).post(
        f"/api/claims/{claim.pk}/reserves", {"cost_type": "indemnity", "amount": "10000.01", "reason": "x"}
    )
    body = assert_problem(response, 403, "FORBIDDEN")
    assert "10,000.00 EUR" in body["detail"]
    assert not ReserveChange.objects.filter(claim=claim).exists()


def test_reserves_need_the_permission_and_a_known_claim(api_as, adjuster, finance, underwriter):
    claim = factories.ClaimFactory(approved=True)
    body = {"cost_type": "indemnity", "amount": "100.00", "reason": "x"}
    assert_problem(api_as(finance).post(f"/api/claims/{claim.pk}/reserves", body), 403, "FORBIDDEN")
    assert_problem(api_as(underwriter).get(f"/api/claims/{claim.pk}/reserves"), 403, "FORBIDDEN")
    assert_problem(api_as(adjuster).post(f"/api/claims/{uuid.uuid4()}/reserves", body), 404, "NOT_FOUND")
    assert_problem(api_as(adjuster).get(f"/api/claims/{uuid.uuid4()}/reserves"), 404, "NOT_FOUND")
    assert not ReserveChange.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"amount": "-1.00"},
        {"amount": -1},
        {"amount": "10.001"},
        {"amount": 10.001},
        {"amount": "10000000000000.00"},
        {"amount": "1e3"},
        {"amount": True},
        {"cost_type": "legal"},
        {"reason": ""},
        {"reason": "   "},
        {"reason": None},
        {"unknown": 1},
    ],
    ids=[
        "negative",
        "negative-number",
        "over-precise",
        "over-precise-number",
        "huge",
        "exponent",
        "boolean",
        "unknown-cost-type",
        "empty-reason",
        "blank-reason",
        "null-reason",
        "extra-field",
    ],
)
def test_bad_reserve_bodies_are_422_and_write_nothing(api_as, adjuster, overrides):
    claim = factories.ClaimFactory(approved=True)
    body = {"cost_type": "indemnity", "amount": "100.00", "reason": "x", **overrides}
    assert_problem(api_as(adjuster).post(f"/api/claims/{claim.pk}/reserves", body), 422, "VALIDATION_ERROR")
    assert not ReserveChange.objects.exists()


# --- payments: request ------------------------------------------------------------------------------------
def test_a_payment_within_the_limits_is_created_approved_with_the_account_masked(api_as, adjuster, boss):
    # given
    claim = reserved_claim(boss)
    # when
    response = api_as(adjuster).post(f"/api/claims/{claim.pk}/payments", payment_body())
    # then
    assert response.status_code == 201, response.content
    body = PaymentResponse.model_validate(response.json())
    assert body.status == "approved" and body.requested_by == adjuster.pk
    assert response.json()["amount"] == "400.00"
    assert response.json()["payee_account"] == MASKED
    assert_masked(response)
    payment = ClaimPayment.objects.get(pk=body.id)
    assert payment.payee_account == ACCOUNT  # kept in full (encrypted), only answered masked


def test_a_payment_above_the_four_eyes_limit_is_created_requested(api_as, adjuster, boss):
    claim = reserved_claim(boss, indemnity="8000.00", claim_amount=Decimal("8000.00"))
    response = api_as(adjuster).post(f"/api/claims/{claim.pk}/payments", payment_body(amount="6000.00"))
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "requested"
    assert response.json()["approved_by"] is None


def test_a_payment_without_an_account_answers_an_empty_account(api_as, adjuster, boss):
    claim = reserved_claim(boss)
    body = payment_body(method="cheque")
    del body["payee_account"], body["reference"]
    response = api_as(adjuster).post(f"/api/claims/{claim.pk}/payments", body)
    assert response.status_code == 201, response.content
    assert response.json()["payee_account"] == "" and response.json()["reference"] == ""


def test_a_payment_above_the_open_reserve_is_400_naming_both_figures(api_as, adjuster, boss):
    claim = reserved_claim(boss, indemnity="300.00")
    body = assert_problem(
        api_as(adjuster).post(f"/api/claims/{claim.pk}/payments", payment_body()), 400, "BUSINESS_RULE"
    )
    assert "400.00" in body["detail"] and "300.00" in body["detail"]
    assert not ClaimPayment.objects.exists()


def test_indemnity_beyond_the_approved_amount_is_400(api_as, adjuster, boss):
    # given: a reserve above the approved amount (a reserve may be), and 700.00 already requested
    claim = reserved_claim(boss, indemnity="2000.00")
    request_payment(adjuster, claim, amount="700.00")
    # when: 400.00 more than the 1,000.00 approved
    response = api_as(adjuster).post(f"/api/claims/{claim.pk}/payments", payment_body())
    # then
    assert_problem(response, 400, "BUSINESS_RULE")
    assert ClaimPayment.objects.count() == 1


def test_an_indemnity_payment_needs_an_approved_or_paid_claim(api_as, adjuster, boss):
    claim = reserved_claim(boss, approved=False, processing=True)
    assert_problem(api_as(adjuster).post(f"/api/claims/{claim.pk}/payments", payment_body()), 400, "BUSINESS_RULE")
    assert not ClaimPayment.objects.exists()


def test_an_expense_payment_on_a_pending_claim_is_400_and_on_a_closed_one_409(api_as, adjuster, boss):
    pending = reserved_claim(boss, approved=False, expense="500.00")
    closed = factories.ClaimFactory(closed=True)
    client = api_as(adjuster)
    assert_problem(client.post(f"/api/claims/{pending.pk}/payments", payment_body(cost_type="expense")), 400)
    assert_problem(client.post(f"/api/claims/{closed.pk}/payments", payment_body(cost_type="expense")), 409)
    assert not ClaimPayment.objects.exists()


def test_an_expense_payment_on_a_processing_claim_is_created(api_as, adjuster, boss):
    claim = reserved_claim(boss, approved=False, processing=True, expense="500.00")
    response = api_as(adjuster).post(f"/api/claims/{claim.pk}/payments", payment_body(cost_type="expense"))
    assert response.status_code == 201, response.content
    assert response.json()["cost_type"] == "expense"


@pytest.mark.parametrize(
    "overrides",
    [
        {"amount": "0"},
        {"amount": 0},
        {"amount": "-5.00"},
        {"amount": "1.005"},
        {"amount": "99999999999999.00"},
        {"method": "cash"},
        {"cost_type": "legal"},
        {"payee_name": ""},
        {"payee_name": " "},
        {"payee_account": "x" * 65},
        {"payee_is_policyholder": "yes"},
        {"payee_is_policyholder": 1},
        {"reference": "r" * 101},
        {"extra": True},
    ],
    ids=[
        "zero",
        "zero-number",
        "negative",
        "over-precise",
        "huge",
        "unknown-method",
        "unknown-cost-type",
        "no-payee",
        "blank-payee",
        "long-account",
        "flag-as-text",
        "flag-as-number",
        "long-reference",
        "extra-field",
    ],
)
def test_bad_payment_bodies_are_422_and_write_nothing(api_as, adjuster, boss, overrides):
    claim = reserved_claim(boss)
    response = api_as(adjuster).post(f"/api/claims/{claim.pk}/payments", payment_body(**overrides))
    assert_problem(response, 422, "VALIDATION_ERROR")
    assert not ClaimPayment.objects.exists()


def test_payments_need_the_permission_and_a_known_claim(api_as, adjuster, finance, underwriter):
    claim = factories.ClaimFactory(approved=True)
    assert_problem(api_as(finance).post(f"/api/claims/{claim.pk}/payments", payment_body()), 403, "FORBIDDEN")
    assert_problem(api_as(underwriter).get(f"/api/claims/{claim.pk}/payments"), 403, "FORBIDDEN")
    assert_problem(api_as(underwriter).get("/api/payments"), 403, "FORBIDDEN")
    assert_problem(api_as(adjuster).post(f"/api/claims/{uuid.uuid4()}/payments", payment_body()), 404, "NOT_FOUND")
    assert_problem(api_as(adjuster).get(f"/api/claims/{uuid.uuid4()}/payments"), 404, "NOT_FOUND")
    assert not ClaimPayment.objects.exists()


def test_the_idempotency_key_replays_the_first_payment_and_creates_one(api_as, adjuster, boss):
    # given
    claim = reserved_claim(boss)
    client = api_as(adjuster)
    path = f"/api/claims/{claim.pk}/payments"
    first = client.post(path, payment_body(), headers={"Idempotency-Key": "pay-1"})
    # when
    replay = client.post(path, payment_body(amount=400), headers={"Idempotency-Key": "pay-1"})
    other = client.post(path, payment_body(amount="10.00"), headers={"Idempotency-Key": "pay-1"})
    # then
    assert first.status_code == replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert_masked(replay)
    assert_problem(other, 422, "VALIDATION_ERROR")
    assert ClaimPayment.objects.count() == 1


# --- payments: reads -------------------------------------------------------------------------------------
def test_payment_reads_mask_the_account_everywhere(api_as, adjuster, boss):
    # given
    claim = reserved_claim(boss)
    payment = request_payment(adjuster, claim)
    client = api_as(adjuster)
    # when
    reads = [
        client.get("/api/payments"),
        client.get(f"/api/payments/{payment.pk}"),
        client.get(f"/api/claims/{claim.pk}/payments"),
        client.get(f"/api/claims/{claim.pk}/payments/{payment.pk}"),
    ]
    # then
    for response in reads:
        assert response.status_code == 200, response.content
        assert_masked(response)
        assert MASKED in response.content.decode()
    assert PaymentPage.model_validate(reads[0].json()).items[0].payment_number == payment.payment_number


def test_an_unknown_payment_and_a_payment_under_another_claims_path_are_404(api_as, adjuster, boss):
    claim, other = reserved_claim(boss), factories.ClaimFactory(approved=True)
    payment = request_payment(adjuster, claim)
    client = api_as(adjuster)
    assert_problem(client.get(f"/api/payments/{uuid.uuid4()}"), 404, "NOT_FOUND")
    assert_problem(client.get(f"/api/claims/{other.pk}/payments/{payment.pk}"), 404, "NOT_FOUND")
    assert client.get(f"/api/claims/{other.pk}/payments").json()["total"] == 0
    assert_problem(api_as(boss).post(f"/api/payments/{uuid.uuid4()}/approve"), 404, "NOT_FOUND")


def test_the_payment_list_filters(api_as, adjuster, manager, boss):
    # given: on one claim an approved indemnity payment and a requested one; an expense one on another claim
    big = reserved_claim(boss, indemnity="9000.00", claim_amount=Decimal("9000.00"))
    small = request_payment(adjuster, big, amount="100.00")
    waiting = request_payment(adjuster, big, amount="6000.00")
    other = reserved_claim(boss, expense="500.00")
    expense = request_payment(adjuster, other, cost_type="expense", amount="50.00")
    client = api_as(manager)

    def ids(**query):
        response = client.get("/api/payments", query)
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["items"]}

    # then
    assert ids() == {str(small.pk), str(waiting.pk), str(expense.pk)}
    assert ids(status="requested") == {str(waiting.pk)}
    assert ids(claim_id=str(big.pk)) == {str(small.pk), str(waiting.pk)}
    assert ids(cost_type="expense") == {str(expense.pk)}
    assert ids(awaiting_my_approval="true") == {str(waiting.pk)}
    assert ids(awaiting_my_approval="false") == {str(small.pk), str(expense.pk)}
    assert_problem(client.get("/api/payments", {"status": "lost"}), 422)
    assert_problem(client.get("/api/payments", {"awaiting_my_approval": "yes"}), 422)


def test_awaiting_my_approval_is_others_requests_within_my_authority(api_as, adjuster, manager, boss):
    # given: a 6,000.00 request by the adjuster
    claim = reserved_claim(boss, indemnity="9000.00", claim_amount=Decimal("9000.00"))
    request_payment(adjuster, claim, amount="6000.00")
    small_manager = factories.staff(roles.CLAIMS_MANAGER, authority_limit=Decimal("5500.00"))
    query = {"awaiting_my_approval": "true"}
    # then: not the requester's (four eyes), nor an approver's whose authority is below it, nor without the right
    assert api_as(manager).get("/api/payments", query).json()["total"] == 1
    assert api_as(adjuster).get("/api/payments", query).json()["total"] == 0
    assert api_as(small_manager).get("/api/payments", query).json()["total"] == 0


# --- payments: approve, issue, cancel, void ------------------------------------------------------------------
def test_four_eyes_through_the_api(api_as, adjuster, manager, boss):
    # given: a payment above the four-eyes limit, requested by a manager (who may approve payments)
    claim = reserved_claim(boss, indemnity="8000.00", claim_amount=Decimal("8000.00"))
    requester = factories.staff(roles.CLAIMS_MANAGER)
    payment = request_payment(requester, claim, amount="6000.00")
    path = f"/api/payments/{payment.pk}/approve"
    low = factories.staff(roles.CLAIMS_MANAGER, authority_limit=Decimal("5500.00"))
    # then: the requester may not approve it, nor an approver over their authority, nor an adjuster
    assert "four-eyes" in assert_problem(api_as(requester).post(path), 403, "FORBIDDEN")["detail"].lower()
    assert "5,500.00 EUR" in assert_problem(api_as(low).post(path), 403, "FORBIDDEN")["detail"]
    assert_problem(api_as(adjuster).post(path), 403, "FORBIDDEN")
    payment.refresh_from_db()
    assert payment.status == "requested"
    # and a second user with enough authority does
    response = api_as(manager).post(path)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved" and response.json()["approved_by"] == str(manager.pk)
    assert_masked(response)
    # and a retry answers the approved payment unchanged, writing nothing more
    events = ClaimEvent.objects.filter(claim=claim).count()
    again = api_as(manager).post(path)
    assert again.status_code == 200 and again.json() == response.json()
    assert ClaimEvent.objects.filter(claim=claim).count() == events


def test_issuing_erodes_the_reserve_and_pays_the_claim_and_a_void_takes_it_back(api_as, adjuster, finance, boss):
    # given: an approved payment of the whole approved amount
    claim = reserved_claim(boss)
    payment = request_payment(adjuster, claim, amount="1000.00")
    # when
    issued = api_as(finance).post(f"/api/payments/{payment.pk}/issue")
    # then
    assert issued.status_code == 200, issued.content
    assert issued.json()["status"] == "issued" and issued.json()["issued_by"] == str(finance.pk)
    assert_masked(issued)
    claim.refresh_from_db()
    assert (claim.status, claim.paid_indemnity, claim.reserve_indemnity) == (S.PAID, Decimal("1000.00"), Decimal("0"))
    # when voided
    voided = api_as(finance).post(f"/api/payments/{payment.pk}/void", {"reason": "Sent to the wrong account"})
    # then
    assert voided.status_code == 200, voided.content
    assert voided.json()["status"] == "voided" and voided.json()["void_reason"] == "Sent to the wrong account"
    claim.refresh_from_db()
    assert (claim.status, claim.paid_indemnity, claim.reserve_indemnity) == (
        S.APPROVED,
        Decimal("0"),
        Decimal("1000.00"),
    )
    financials = api_as(finance).get(f"/api/claims/{claim.pk}/financials").json()
    assert financials["paid_indemnity"] == "0.00" and financials["gross_incurred"] == "1000.00"


def test_issue_needs_finance_and_an_approved_payment(api_as, adjuster, manager, finance, boss):
    claim = reserved_claim(boss, indemnity="8000.00", claim_amount=Decimal("8000.00"))
    requested = request_payment(adjuster, claim, amount="6000.00")
    approved = request_payment(adjuster, claim, amount="100.00")
    assert_problem(api_as(adjuster).post(f"/api/payments/{approved.pk}/issue"), 403, "FORBIDDEN")
    assert_problem(api_as(finance).post(f"/api/payments/{requested.pk}/issue"), 409, "CONFLICT")
    assert ClaimPayment.objects.filter(status="issued").count() == 0


def test_cancel_needs_a_reason_and_an_unissued_payment(api_as, adjuster, finance, boss):
    # given
    claim = reserved_claim(boss)
    payment = request_payment(adjuster, claim)
    path = f"/api/payments/{payment.pk}/cancel"
    client = api_as(finance)
    # then: without a reason, a 422 and nothing changes
    for body in ({}, {"reason": ""}, {"reason": "  "}, {"reason": "x", "extra": 1}):
        assert_problem(client.post(path, body), 422, "VALIDATION_ERROR")
    payment.refresh_from_db()
    assert payment.status == "approved"
    # when
    response = client.post(path, {"reason": "Duplicate invoice"})
    # then
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled" and response.json()["cancel_reason"] == "Duplicate invoice"
    # and a cancelled payment cannot be approved or issued (a repeated cancel answers it unchanged)
    assert_problem(api_as(boss).post(f"/api/payments/{payment.pk}/approve"), 409, "CONFLICT")
    assert_problem(client.post(f"/api/payments/{payment.pk}/issue"), 409, "CONFLICT")
    again = client.post(path, {"reason": "again"})
    assert again.status_code == 200 and again.json()["cancel_reason"] == "Duplicate invoice"


def test_void_needs_a_reason_and_an_issued_payment(api_as, adjuster, finance, boss):
    claim = reserved_claim(boss)
    payment = request_payment(adjuster, claim)
    path = f"/api/payments/{payment.pk}/void"
    assert_problem(api_as(finance).post(path, {"reason": "x"}), 409, "CONFLICT")  # approved, not issued
    services.payment_issue(actor=finance, payment_id=payment.pk)
    assert_problem(api_as(finance).post(path, {}), 422, "VALIDATION_ERROR")
    assert_problem(api_as(adjuster).post(path, {"reason": "x"}), 403, "FORBIDDEN")
    payment.refresh_from_db()
    assert payment.status == "issued"


# --- recoveries ------------------------------------------------------------------------------------------
def test_recording_a_recovery_lowers_the_net_incurred(api_as, finance, boss):
    # given
    claim = reserved_claim(boss)
    client = api_as(finance)
    # when
    response = client.post(
        f"/api/claims/{claim.pk}/recoveries",
        {"kind": "salvage", "amount": "150.00", "source": "Scrap dealer", "reference": "S-1"},
    )
    # then
    assert response.status_code == 201, response.content
    body = RecoveryResponse.model_validate(response.json())
    assert body.actor_id == finance.pk and response.json()["amount"] == "150.00"
    listed = RecoveryPage.model_validate(client.get(f"/api/claims/{claim.pk}/recoveries").json())
    assert [item.id for item in listed.items] == [body.id]
    financials = client.get(f"/api/claims/{claim.pk}/financials").json()
    assert (financials["recovered"], financials["net_incurred"]) == ("150.00", "850.00")


def test_a_recovery_takes_its_received_date(api_as, finance):
    claim = factories.ClaimFactory(paid=True)
    response = api_as(finance).post(
        f"/api/claims/{claim.pk}/recoveries",
        {"kind": "subrogation", "amount": 80, "source": "Other insurer", "received_at": "2025-01-02T03:04:05+01:00"},
    )
    assert response.status_code == 201, response.content
    assert response.json()["received_at"].startswith("2025-01-02T02:04:05")


@pytest.mark.parametrize(
    "traits", [{}, {"processing": True}, {"denied": True}], ids=["pending", "processing", "denied"]
)
def test_a_recovery_on_a_claim_not_approved_paid_or_closed_is_409(api_as, finance, traits):
    claim = factories.ClaimFactory(**traits)
    response = api_as(finance).post(
        f"/api/claims/{claim.pk}/recoveries", {"kind": "other", "amount": "10.00", "source": "x"}
    )
    assert_problem(response, 409, "CONFLICT")
    assert not ClaimRecovery.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"kind": "refund"},
        {"amount": "0.00"},
        {"amount": "-3"},
        {"amount": "1.234"},
        {"source": ""},
        {"received_at": "2999-01-01T00:00:00Z"},
        {"received_at": "yesterday"},
        {"received_at": 1700000000},
    ],
    ids=["unknown-kind", "zero", "negative", "over-precise", "no-source", "future", "not-a-date", "timestamp"],
)
def test_bad_recovery_bodies_are_422(api_as, finance, overrides):
    claim = factories.ClaimFactory(approved=True)
    body = {"kind": "salvage", "amount": "10.00", "source": "x", **overrides}
    assert_problem(api_as(finance).post(f"/api/claims/{claim.pk}/recoveries", body), 422, "VALIDATION_ERROR")
    assert not ClaimRecovery.objects.exists()


def test_recoveries_need_the_permission_and_a_known_claim(api_as, underwriter, finance):
    claim = factories.ClaimFactory(approved=True)
    body = {"kind": "salvage", "amount": "10.00", "source": "x"}
    assert_problem(api_as(underwriter).post(f"/api/claims/{claim.pk}/recoveries", body), 403, "FORBIDDEN")
    assert_problem(api_as(underwriter).get(f"/api/claims/{claim.pk}/recoveries"), 403, "FORBIDDEN")
    assert_problem(api_as(finance).post(f"/api/claims/{uuid.uuid4()}/recoveries", body), 404, "NOT_FOUND")
    assert_problem(api_as(finance).get(f"/api/claims/{uuid.uuid4()}/recoveries"), 404, "NOT_FOUND")


# --- query counts ------------------------------------------------------------------------------------------
def _payments(claim, actor, n):
    for _ in range(n):
        request_payment(actor, claim, cost_type="expense", amount="1.00")


def _reserves(claim, actor, n):
    for i in range(n):
        services.claim_reserve_set(
            actor=actor, claim_id=claim.pk, cost_type="expense", amount=Decimal(100 + i), reason="re-estimated"
        )


def _recoveries(claim, actor, n):
    for _ in range(n):
        services.recovery_record(actor=actor, claim_id=claim.pk, kind="salvage", amount=Decimal("1.00"), source="x")


@pytest.mark.parametrize(
    ("path", "build"),
    [
        ("/api/payments", _payments),
        ("/api/claims/{claim}/payments", _payments),
        ("/api/claims/{claim}/reserves", _reserves),
        ("/api/claims/{claim}/recoveries", _recoveries),
        ("/api/payments?awaiting_my_approval=true", _payments),
    ],
)
def test_list_query_count_is_the_same_for_2_and_22_rows(api_as, boss, django_assert_num_queries, path, build):
    # given: an expense reserve that covers every payment
    claim = reserved_claim(boss, expense="1000.00")
    api = api_as(boss)
    assert api.get("/api/auth/me").status_code == 200  # the caller's principal is cached from here on
    path, _, flag = path.format(claim=claim.pk).partition("?")
    query = {"page_size": 100, **({"awaiting_my_approval": "true"} if flag else {})}
    build(claim, boss, 2)
    with django_assert_num_queries(1):  # the page with its total
        small = api.get(path, query)
    # when
    build(claim, boss, 20)
    with django_assert_num_queries(1):
        large = api.get(path, query)
    # then
    assert small.status_code == large.status_code == 200
    if not flag:  # the superuser's own payments never await the superuser's approval
        assert len(large.json()["items"]) > len(small.json()["items"]) >= 2


# --- the flow of issue 10 -------------------------------------------------------------------------------------
def test_the_end_to_end_flow(api_as, adjuster, manager, finance, boss):
    """reserve → payment requested → approved by a second user → issued → claim paid → recovery → net incurred."""
    # given: a 7,500.00 claim, approved in full by the manager
    claim = factories.ClaimFactory(processing=True, claim_amount=Decimal("7500.00"))
    assert api_as(manager).patch(f"/api/claims/{claim.pk}", {"status": "approved"}).status_code == 200
    # when the adjuster reserves it and requests its payment (above the four-eyes limit)
    reserve = api_as(adjuster).post(
        f"/api/claims/{claim.pk}/reserves",
        {"cost_type": "indemnity", "amount": "7500.00", "reason": "Assessor's report"},
    )
    assert reserve.status_code == 201, reserve.content
    requested = api_as(adjuster).post(f"/api/claims/{claim.pk}/payments", payment_body(amount="7500.00"))
    assert requested.status_code == 201 and requested.json()["status"] == "requested", requested.content
    payment_id = requested.json()["id"]
    # the manager approves it, Finance issues it
    approved = api_as(manager).post(f"/api/payments/{payment_id}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.content
    issued = api_as(finance).post(f"/api/payments/{payment_id}/issue")
    assert issued.status_code == 200 and issued.json()["status"] == "issued", issued.content
    # then the claim is paid
    assert api_as(finance).get(f"/api/claims/{claim.pk}").json()["status"] == "paid"
    # and a recovery lowers its net incurred
    recovery = api_as(finance).post(
        f"/api/claims/{claim.pk}/recoveries",
        {"kind": "subrogation", "amount": "2000.00", "source": "Other driver's insurer"},
    )
    assert recovery.status_code == 201, recovery.content
    assert api_as(finance).get(f"/api/claims/{claim.pk}/financials").json() == {
        "reserve_indemnity": "0.00",
        "reserve_expense": "0.00",
        "paid_indemnity": "7500.00",
        "paid_expense": "0.00",
        "recovered": "2000.00",
        "gross_incurred": "7500.00",
        "net_incurred": "5500.00",
        "currency": "EUR",
    }
    for response in (requested, approved, issued):
        assert_masked(response)
