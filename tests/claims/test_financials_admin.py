"""A claim's money in the admin (SPEC §10.5): the panel and inlines on the claim page, the Set reserve…, Request
payment… and Record recovery… pages, the Payments changelist with its actions, each with the service's outcome and
its refusals named, the payee account shown in full only to Finance (and logged), constant query counts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from claims.financials import services
from claims.models import Claim, ClaimEvent, ClaimPayment, ClaimRecovery, ReserveChange
from compliance.models import PIIAccessLog
from tests import factories
from tests.admin_support import count_queries, messages_of, post_action
from vanguard.accounts import roles

pytestmark = pytest.mark.django_db

PAYMENTS = reverse("admin:claims_claimpayment_changelist")
ACCOUNT = "GB33BUKB20201555554321"
S = Claim.Status


@pytest.fixture
def finance(db):
    return factories.staff(roles.FINANCE)


@pytest.fixture
def boss(db):
    return factories.UserFactory(superuser=True)


def change_url(claim: Claim) -> str:
    return reverse("admin:claims_claim_change", args=[claim.pk])


def money_url(claim: Claim, name: str) -> str:
    return reverse("admin:claims_claim_money", args=[claim.pk, name])


def payment_url(payment: ClaimPayment) -> str:
    return reverse("admin:claims_claimpayment_change", args=[payment.pk])


def payment_transition_url(payment: ClaimPayment, name: str) -> str:
    return reverse("admin:claims_claimpayment_transition", args=[payment.pk, name])


def reserved_claim(boss, *, indemnity: str = "1000.00", expense: str | None = None, **traits) -> Claim:
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


def request_payment(actor, claim: Claim, amount: str = "400.00", **overrides) -> ClaimPayment:
    data = {
        "cost_type": "indemnity",
        "payee_name": "Ada Lovelace",
        "payee_account": ACCOUNT,
        "payee_is_policyholder": True,
        "method": "bank_transfer",
        "reference": "INV-1",
        **overrides,
    }
    return services.payment_request(actor=actor, claim_id=claim.pk, amount=Decimal(amount), **data)


# --- the claim page ----------------------------------------------------------------------------------------
def test_the_claim_page_shows_the_panel_and_the_inlines_with_the_account_masked(client, adjuster, boss):
    # given: reserves, a payment and a recovery
    claim = reserved_claim(boss, indemnity="12500.00", expense="300.00", claim_amount=Decimal("20000.00"))
    request_payment(adjuster, claim, amount="2000.00")
    services.recovery_record(
        actor=boss, claim_id=claim.pk, kind="salvage", amount=Decimal("250.00"), source="Scrap dealer"
    )
    client.force_login(adjuster)
    # when
    html = client.get(change_url(claim)).content.decode()
    # then: the seven totals with the currency and separators
    panel = html.split('class="vanguard-financials"')[1].split("</table>")[0]
    for figure in ("12,500.00 EUR", "300.00 EUR", "0.00 EUR", "12,800.00 EUR", "250.00 EUR", "12,550.00 EUR"):
        assert figure in panel
    # and the inlines: reserve changes, the payment with its account masked, the recovery
    assert "reserve changes" in html.lower() and "Scrap dealer" in html and "2,000.00 EUR" in html
    assert "•••• 4321" in html and ACCOUNT not in html and ACCOUNT[:-4] not in html
    # and the pages the adjuster may open
    for name in ("reserve", "payment", "recovery"):
        assert money_url(claim, name) in html


def test_the_pages_are_offered_by_permission_and_status(client, finance, boss):
    claim = reserved_claim(boss)
    client.force_login(finance)
    html = client.get(change_url(claim)).content.decode()
    assert money_url(claim, "recovery") in html  # Finance records recoveries
    assert money_url(claim, "reserve") not in html and money_url(claim, "payment") not in html
    assert client.get(money_url(claim, "reserve")).status_code == 403


def test_set_reserve_shows_the_open_reserves_and_the_authority_and_sets_it(client, adjuster, boss):
    # given
    claim = reserved_claim(boss, expense="200.00")
    client.force_login(adjuster)
    # when
    page = client.get(money_url(claim, "reserve"))
    response = client.post(
        money_url(claim, "reserve"),
        {"apply": "yes", "cost_type": "indemnity", "amount": "1500.00", "reason": "Second estimate"},
    )
    # then: the page shows the open reserve of each cost type and the user's own limit
    text = page.content.decode()
    assert page.status_code == 200
    assert "Indemnity (open reserve 1,000.00 EUR)" in text and "Expense (open reserve 200.00 EUR)" in text
    assert "Your authority limit: 10,000.00 EUR." in text
    # and the reserve is set as the service sets it
    assert response.status_code == 302
    change = ReserveChange.objects.filter(claim=claim).latest("created_at")
    assert (change.previous_amount, change.new_amount, change.reason, change.actor) == (
        Decimal("1000.00"),
        Decimal("1500.00"),
        "Second estimate",
        adjuster,
    )
    claim.refresh_from_db()
    assert claim.reserve_indemnity == Decimal("1500.00") and claim.gross_incurred == Decimal("1700.00")
    assert f"{claim.claim_number}: indemnity reserve set to 1,500.00 EUR." in messages_of(response)


def test_a_refused_reserve_keeps_what_was_typed_and_names_the_rule(client, adjuster, boss):
    # given: the adjuster's authority is 10,000.00
    claim = reserved_claim(boss)
    client.force_login(adjuster)
    # when
    response = client.post(
        money_url(claim, "reserve"),
        {"apply": "yes", "cost_type": "indemnity", "amount": "12000.00", "reason": "Big estimate"},
    )
    # then
    text = response.content.decode()
    assert response.status_code == 200
    assert "10,000.00 EUR" in text and "authority" in text.lower()
    assert 'value="12000.00"' in text and "Big estimate" in text
    assert ReserveChange.objects.filter(claim=claim).count() == 1  # only the fixture's


def test_the_reserve_form_shows_every_field_error_at_once(client, adjuster, boss):
    claim = reserved_claim(boss)
    client.force_login(adjuster)
    response = client.post(
        money_url(claim, "reserve"), {"apply": "yes", "cost_type": "legal", "amount": "-1", "reason": ""}
    )
    form = response.context["form"]
    assert response.status_code == 200
    assert set(form.errors) == {"cost_type", "amount", "reason"}
    assert ReserveChange.objects.filter(claim=claim).count() == 1


def test_request_payment_creates_it_as_the_service_does(client, adjuster, boss):
    # given
    claim = reserved_claim(boss, indemnity="8000.00", claim_amount=Decimal("8000.00"))
    client.force_login(adjuster)
    data = {
        "apply": "yes",
        "cost_type": "indemnity",
        "payee_name": "Ada Lovelace",
        "payee_account": ACCOUNT,
        "payee_is_policyholder": "on",
        "method": "bank_transfer",
        "reference": "INV-9",
    }
    # when: one within the four-eyes limit, one above it
    small = client.post(money_url(claim, "payment"), {**data, "amount": "300.00"})
    large = client.post(money_url(claim, "payment"), {**data, "amount": "6000.00"})
    # then
    assert small.status_code == large.status_code == 302
    approved, requested = ClaimPayment.objects.filter(claim=claim).order_by("amount")
    assert (approved.status, approved.amount, approved.requested_by) == ("approved", Decimal("300.00"), adjuster)
    assert requested.status == "requested" and requested.payee_account == ACCOUNT
    assert requested.payee_is_policyholder and requested.reference == "INV-9"
    assert any("four eyes" in text for text in messages_of(large))


def test_the_payment_page_shows_what_is_left_of_the_reserve_and_the_authority(client, adjuster, boss):
    # given: 1,000.00 approved and reserved, a payment of 400.00 approved but not yet issued
    claim = reserved_claim(boss)
    request_payment(adjuster, claim, amount="400.00")
    client.force_login(adjuster)
    # when
    text = client.get(money_url(claim, "payment")).content.decode()
    # then
    assert "Indemnity (available 600.00 EUR of the open reserve of 1,000.00 EUR)" in text
    assert "at most 600.00 EUR more indemnity" in text
    assert "Your authority limit: 10,000.00 EUR." in text and "(5,000.00 EUR)" in text


def test_a_refused_payment_keeps_what_was_typed_and_names_both_figures(client, adjuster, boss):
    claim = reserved_claim(boss, indemnity="300.00")
    client.force_login(adjuster)
    response = client.post(
        money_url(claim, "payment"),
        {
            "apply": "yes",
            "cost_type": "indemnity",
            "amount": "400.00",
            "payee_name": "Ada Lovelace",
            "payee_account": "",
            "method": "cheque",
            "reference": "",
        },
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert "400.00" in text and "300.00" in text
    assert 'value="Ada Lovelace"' in text
    assert not ClaimPayment.objects.exists()


def test_record_recovery_records_it_and_a_refusal_names_the_rule(client, finance, boss):
    # given
    claim = reserved_claim(boss)
    pending = factories.ClaimFactory()
    client.force_login(finance)
    data = {"apply": "yes", "kind": "subrogation", "amount": "120.00", "source": "Other insurer", "reference": "R-1"}
    # when
    recorded = client.post(money_url(claim, "recovery"), data)
    refused = client.post(money_url(pending, "recovery"), data)
    # then
    assert recorded.status_code == 302
    recovery = ClaimRecovery.objects.get(claim=claim)
    assert (recovery.kind, recovery.amount, recovery.source, recovery.actor) == (
        "subrogation",
        Decimal("120.00"),
        "Other insurer",
        finance,
    )
    claim.refresh_from_db()
    assert claim.recovered == Decimal("120.00") and claim.net_incurred == Decimal("880.00")
    assert refused.status_code == 200 and "pending" in refused.content.decode().lower()
    assert 'value="Other insurer"' in refused.content.decode()
    assert not ClaimRecovery.objects.filter(claim=pending).exists()


def test_the_claim_page_query_count_does_not_grow_with_the_money_rows(client, adjuster, boss):
    # given
    claim = reserved_claim(boss, expense="900.00")
    request_payment(adjuster, claim, cost_type="expense", amount="10.00")
    client.force_login(adjuster)
    client.get(change_url(claim))
    few = count_queries(client, change_url(claim))
    # when
    other = factories.staff(roles.CLAIMS_ADJUSTER)
    for actor in (adjuster, other, boss):
        request_payment(actor, claim, cost_type="expense", amount="10.00")
        services.claim_reserve_set(
            actor=actor, claim_id=claim.pk, cost_type="expense", amount=Decimal("800.00"), reason="re-estimated"
        )
        services.recovery_record(actor=actor, claim_id=claim.pk, kind="other", amount=Decimal("1.00"), source="x")
    many = count_queries(client, change_url(claim))
    # then
    assert few == many


# --- the Payments changelist -----------------------------------------------------------------------------------
def test_the_changelist_filters_by_status_cost_type_and_awaiting_my_approval(client, adjuster, manager, boss):
    # given
    claim = reserved_claim(boss, indemnity="9000.00", expense="500.00", claim_amount=Decimal("9000.00"))
    small = request_payment(adjuster, claim, amount="100.00")
    waiting = request_payment(adjuster, claim, amount="6000.00")
    expense = request_payment(adjuster, claim, cost_type="expense", amount="50.00")
    client.force_login(manager)

    def listed(**query):
        response = client.get(PAYMENTS, query)
        assert response.status_code == 200
        return {payment.pk for payment in response.context["cl"].result_list}

    # then
    assert listed() == {small.pk, waiting.pk, expense.pk}
    assert listed(status__exact="requested") == {waiting.pk}
    assert listed(cost_type__exact="expense") == {expense.pk}
    assert listed(awaiting="mine") == {waiting.pk}
    html = client.get(PAYMENTS).content.decode()
    assert "Amount (EUR)" in html and "6,000.00" in html and ACCOUNT[-4:] not in html
    client.force_login(adjuster)
    assert listed(awaiting="mine") == set()  # their own request: four eyes


def test_the_changelist_runs_the_same_number_of_queries_for_2_and_22_payments(client, manager, adjuster, boss):
    # given
    claim = reserved_claim(boss, expense="1000.00")
    for _ in range(2):
        request_payment(adjuster, claim, cost_type="expense", amount="1.00")
    client.force_login(manager)
    client.get(PAYMENTS)
    # when
    with_two = count_queries(client, PAYMENTS)
    others = [factories.staff(roles.CLAIMS_ADJUSTER) for _ in range(3)]
    for index in range(20):
        request_payment(others[index % 3], reserved_claim(boss, expense="10.00"), cost_type="expense", amount="1.00")
    with_twenty_two = count_queries(client, PAYMENTS)
    awaiting = count_queries(client, PAYMENTS + "?awaiting=mine")
    # then
    assert with_two == with_twenty_two
    assert awaiting <= with_two + 1  # the approver's groups, for the authority limit


def test_approve_action_approves_others_requests_and_names_the_four_eyes_rule(client, manager, boss):
    # given: two requests above the four-eyes limit, one by this manager, one by a colleague
    claim = reserved_claim(boss, indemnity="20000.00", claim_amount=Decimal("20000.00"))
    colleague = factories.staff(roles.CLAIMS_MANAGER)
    own = request_payment(manager, claim, amount="6000.00")
    theirs = request_payment(colleague, claim, amount="7000.00")
    client.force_login(manager)
    # when
    response = post_action(client, PAYMENTS, "approve_payments", [own, theirs])
    # then: the same outcome as the service
    own.refresh_from_db()
    theirs.refresh_from_db()
    assert own.status == "requested" and theirs.status == "approved" and theirs.approved_by == manager
    texts = messages_of(response)
    assert "Approved: 1 claim payment." in texts
    assert any(text.startswith(f"{own.payment_number}: four-eyes") for text in texts), texts
    assert ClaimEvent.objects.filter(claim=claim, kind="payment_approved").count() == 1


def test_issue_action_issues_and_pays_the_claim(client, finance, adjuster, boss):
    # given
    claim = reserved_claim(boss)
    payment = request_payment(adjuster, claim, amount="1000.00")
    client.force_login(finance)
    # when
    response = post_action(client, PAYMENTS, "issue_payments", [payment])
    # then
    assert "Issued: 1 claim payment." in messages_of(response)
    payment.refresh_from_db()
    claim.refresh_from_db()
    assert payment.status == "issued" and payment.issued_by == finance
    assert claim.status == S.PAID and claim.paid_indemnity == Decimal("1000.00")


def test_issue_of_a_requested_payment_is_refused_with_the_rule(client, finance, adjuster, boss):
    claim = reserved_claim(boss, indemnity="8000.00", claim_amount=Decimal("8000.00"))
    payment = request_payment(adjuster, claim, amount="6000.00")
    client.force_login(finance)
    response = post_action(client, PAYMENTS, "issue_payments", [payment])
    assert any(text.startswith(f"{payment.payment_number}: ") for text in messages_of(response))
    payment.refresh_from_db()
    assert payment.status == "requested"


def test_cancel_action_asks_the_reason_and_cancels(client, finance, adjuster, boss):
    # given
    claim = reserved_claim(boss)
    payments = [request_payment(adjuster, claim, amount="100.00") for _ in range(2)]
    client.force_login(finance)
    # when
    page = post_action(client, PAYMENTS, "cancel_payments", payments)
    missing = post_action(client, PAYMENTS, "cancel_payments", payments, apply="yes", reason="  ")
    response = post_action(client, PAYMENTS, "cancel_payments", payments, apply="yes", reason="Duplicate invoice")
    # then
    assert page.status_code == 200 and "Cancel payments" in page.content.decode()
    assert missing.status_code == 200 and "This field is required." in missing.content.decode()
    assert response.status_code == 302 and "Cancelled: 2 claim payments." in messages_of(response)
    for payment in payments:
        payment.refresh_from_db()
        assert (payment.status, payment.cancel_reason, payment.cancelled_by) == (
            "cancelled",
            "Duplicate invoice",
            finance,
        )


def test_void_button_asks_the_reason_and_voids(client, finance, adjuster, boss):
    # given: an issued payment of the whole approved amount (the claim is paid)
    claim = reserved_claim(boss)
    payment = request_payment(adjuster, claim, amount="1000.00")
    services.payment_issue(actor=finance, payment_id=payment.pk)
    client.force_login(finance)
    # when
    page = client.get(payment_transition_url(payment, "void"))
    response = client.post(payment_transition_url(payment, "void"), {"apply": "yes", "reason": "Transfer returned"})
    # then
    assert page.status_code == 200 and "Void payment" in page.content.decode()
    assert response.status_code == 302
    payment.refresh_from_db()
    claim.refresh_from_db()
    assert (payment.status, payment.void_reason) == ("voided", "Transfer returned")
    assert claim.status == S.APPROVED and claim.paid_indemnity == Decimal("0.00")


def test_the_payment_page_buttons_follow_status_and_permission(client, finance, manager, adjuster, boss):
    claim = reserved_claim(boss, indemnity="8000.00", claim_amount=Decimal("8000.00"))
    payment = request_payment(adjuster, claim, amount="6000.00")
    client.force_login(manager)
    html = client.get(payment_url(payment)).content.decode()
    assert payment_transition_url(payment, "approve") in html
    assert payment_transition_url(payment, "issue") not in html  # not yet approved, and not Finance's
    client.force_login(finance)
    html = client.get(payment_url(payment)).content.decode()
    assert payment_transition_url(payment, "approve") not in html
    assert payment_transition_url(payment, "cancel") in html


# --- the payment page: read-only; the full account only to Finance, logged ---------------------------------
def test_finance_sees_the_full_account_and_the_view_is_logged(client, finance, adjuster, boss):
    # given
    claim = reserved_claim(boss)
    payment = request_payment(adjuster, claim)
    client.force_login(finance)
    # when
    html = client.get(payment_url(payment)).content.decode()
    # then
    assert ACCOUNT in html
    log = PIIAccessLog.objects.get(actor=finance)
    assert log.customer_id == claim.policy.customer_id and log.fields == ["payee_account"]
    assert log.interface == "admin"


def test_others_see_the_account_masked_and_nothing_is_logged(client, adjuster, boss):
    claim = reserved_claim(boss)
    payment = request_payment(adjuster, claim)
    client.force_login(adjuster)
    html = client.get(payment_url(payment)).content.decode()
    assert "•••• 4321" in html and ACCOUNT not in html and ACCOUNT[:-4] not in html
    assert not PIIAccessLog.objects.exists()


def test_payments_are_never_added_changed_or_deleted_through_the_admin(client, boss, adjuster):
    # given
    claim = reserved_claim(boss)
    payment = request_payment(adjuster, claim)
    client.force_login(boss)
    # when
    add = client.get(reverse("admin:claims_claimpayment_add"))
    change = client.post(payment_url(payment), {"amount": "1.00", "payee_name": "Mallory"})
    delete = client.post(reverse("admin:claims_claimpayment_delete", args=[payment.pk]), {"post": "yes"})
    # then
    assert add.status_code == 403 and change.status_code == 403 and delete.status_code == 403
    payment.refresh_from_db()
    assert payment.amount == Decimal("400.00") and payment.payee_name == "Ada Lovelace"
    actions = client.get(PAYMENTS).context["cl"].model_admin.get_actions(client.get(PAYMENTS).wsgi_request)
    assert "delete_selected" not in actions


def test_the_payment_history_shows_its_changes_without_the_account(client, finance, adjuster, boss):
    # given: a payment requested and issued
    claim = reserved_claim(boss)
    payment = request_payment(adjuster, claim)
    services.payment_issue(actor=finance, payment_id=payment.pk)
    client.force_login(boss)
    # when
    response = client.get(reverse("admin:claims_claimpayment_history", args=[payment.pk]))
    # then
    html = response.content.decode()
    assert response.status_code == 200 and payment.payment_number in html
    assert ACCOUNT not in html and ACCOUNT[:-4] not in html
