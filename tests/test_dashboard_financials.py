"""The dashboard's money (SPEC §10.5): payments awaiting my approval, outstanding reserves, paid this month, and the
loss ratio by policy type over the last twelve months (net incurred ÷ premium earned pro rata), for a known book."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from claims.financials import services
from policies.models import Policy
from tests import factories
from vanguard.accounts import roles
from vanguard.dashboard import dashboard_for, earned_premium_by_type, net_incurred_by_type

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")
T = Policy.PolicyType


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def tile(board, label: str):
    return next(t for t in board.tiles if t.label == label)


def chart(board, title: str) -> str:
    return next(str(c.svg) for c in board.charts if c.title.startswith(title))


def reserve(actor, claim, amount: str, cost_type: str = "indemnity") -> None:
    services.claim_reserve_set(
        actor=actor, claim_id=claim.pk, cost_type=cost_type, amount=Decimal(amount), reason="assessed"
    )


def pay(actor, claim, amount: str, cost_type: str = "indemnity"):
    return services.payment_request(
        actor=actor,
        claim_id=claim.pk,
        cost_type=cost_type,
        amount=Decimal(amount),
        payee_name="Ada Lovelace",
        payee_account="NL91ABNA0417164300",
        payee_is_policyholder=True,
        method="bank_transfer",
    )


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def book(now, adjuster, manager):
    """Policies whose earned premium over the last 365 days is known, and claims whose net incurred is known."""
    boss = factories.UserFactory(superuser=True)
    finance = factories.staff(roles.FINANCE)
    day = dt.timedelta(days=1)
    # auto: 3,650.00 over a year begun 100 days ago earns 1,000.00; 730.00 over a year begun 200 days ago and
    # cancelled 100 days ago earns 100 days' worth: 200.00. Earned: 1,200.00.
    auto = factories.PolicyFactory(
        policy_type=T.AUTO, premium_amount=Decimal("3650.00"), start_date=now - 100 * day, end_date=now + 265 * day
    )
    cancelled = factories.PolicyFactory(
        policy_type=T.AUTO,
        premium_amount=Decimal("730.00"),
        cancelled=True,
        start_date=now - 200 * day,
        end_date=now + 165 * day,
        cancelled_at=now - 100 * day,
    )
    # home: 1,200.00 over 200 days inside the window earns all of it; a pending policy earns nothing.
    home = factories.PolicyFactory(
        policy_type=T.HOME, premium_amount=Decimal("1200.00"), start_date=now - 300 * day, end_date=now - 100 * day
    )
    factories.PolicyFactory(
        policy_type=T.HOME,
        pending=True,
        premium_amount=Decimal("9999.00"),
        start_date=now - 50 * day,
        end_date=now + 315 * day,
    )
    # business: 365.00 over a year that ended 135 days ago: 230 of its days fall in the window, 230.00.
    business = factories.PolicyFactory(
        policy_type=T.BUSINESS, premium_amount=Decimal("365.00"), start_date=now - 500 * day, end_date=now - 135 * day
    )

    # auto claims: 600.00 reserved, 250.00 of it paid, 100.00 recovered: net 500.00 ...
    settled = factories.ClaimFactory(
        policy=auto, approved=True, claim_amount=Decimal("600.00"), incident_date=now - 10 * day
    )
    reserve(boss, settled, "600.00")
    services.payment_issue(actor=finance, payment_id=pay(adjuster, settled, "250.00").pk)
    services.recovery_record(
        actor=finance, claim_id=settled.pk, kind="salvage", amount=Decimal("100.00"), source="Scrap dealer"
    )
    # ... and one that awaits approval (above its requester's own authority): it moves no money yet
    pay(factories.staff(roles.CLAIMS_MANAGER, authority_limit=Decimal("100.00")), settled, "200.00")
    # ... 300.00 indemnity and 100.00 expense reserved; an expense payment issued and voided moves nothing: net 400.00
    open_claim = factories.ClaimFactory(policy=cancelled, processing=True, incident_date=now - 150 * day)
    reserve(boss, open_claim, "300.00")
    reserve(boss, open_claim, "100.00", cost_type="expense")
    voided = pay(adjuster, open_claim, "40.00", cost_type="expense")
    services.payment_issue(actor=finance, payment_id=voided.pk)
    services.payment_void(actor=finance, payment_id=voided.pk, reason="Returned")
    # home: 1,800.00 reserved
    reserve(boss, factories.ClaimFactory(policy=home, incident_date=now - 200 * day), "1800.00")
    # business: an incident before the window, 999.00 reserved: outstanding, but not in the ratio
    reserve(boss, factories.ClaimFactory(policy=business, incident_date=now - 400 * day), "999.00")
    return {"boss": boss, "finance": finance}


def test_earned_premium_and_net_incurred_by_type(book, now):
    start = now - dt.timedelta(days=365)
    earned = earned_premium_by_type(start, now)
    incurred = net_incurred_by_type(start, now)
    assert {k: v.quantize(Decimal("0.01")) for k, v in earned.items()} == {
        "auto": Decimal("1200.00"),
        "home": Decimal("1200.00"),
        "business": Decimal("230.00"),
    }
    assert incurred == {"auto": Decimal("900.00"), "home": Decimal("1800.00")}


def test_the_money_tiles_for_a_known_book(book, now, manager):
    # when
    board = dashboard_for(manager, now=now)
    # then: the manager may approve the 200.00 request (another's, within the manager's authority)
    assert tile(board, "Payments awaiting my approval").value == "1"
    # 350.00 + 300.00 + 1,800.00 + 999.00 indemnity and 100.00 expense
    outstanding = tile(board, "Outstanding reserves")
    assert outstanding.value == "3,549.00 EUR"
    assert outstanding.note == "indemnity 3,449.00 EUR · expense 100.00 EUR"
    # the 250.00 issued this month; the voided 40.00 is not paid
    paid = tile(board, "Paid this month")
    assert paid.value == "250.00 EUR" and paid.note.startswith("1 payment issued since 1 ")


def test_the_loss_ratio_chart_for_a_known_book(book, now, manager):
    # when
    svg = chart(dashboard_for(manager, now=now), "Loss ratio by policy type")
    # then: auto 900.00 / 1,200.00, home 1,800.00 / 1,200.00, business 0 / 230.00; life and health earned nothing
    assert "Auto: 75.0 %" in svg and "Home: 150.0 %" in svg and "Business: 0.0 %" in svg
    assert "Life: —" in svg and "Health: —" in svg
    assert "Home: net incurred 1,800.00 EUR of 1,200.00 EUR earned premium" in svg
    assert 'fill="#ba2121"' in svg  # above 100 %: the losses exceed the premium


def test_the_money_tiles_follow_the_permissions(book, now, adjuster, underwriter):
    requester = dashboard_for(adjuster, now=now)
    assert "Payments awaiting my approval" not in {t.label for t in requester.tiles}  # adjusters do not approve
    assert tile(requester, "Paid this month").value == "250.00 EUR"
    underwriting = dashboard_for(underwriter, now=now)
    assert not {"Outstanding reserves", "Paid this month"} & {t.label for t in underwriting.tiles}
    assert not any(c.title.startswith("Loss ratio") for c in underwriting.charts)


def test_the_index_shows_the_tiles_and_the_chart_and_links_the_payments(client, book, manager):
    # given
    client.force_login(manager)
    # when
    html = client.get(INDEX).content.decode()
    # then
    dashboard = html.split('class="vanguard-dashboard"')[1].split("</section>")[0]
    assert "Payments awaiting my approval" in dashboard and "3,549.00 EUR" in dashboard
    assert "Loss ratio by policy type" in dashboard and "Auto: 75.0 %" in dashboard
    assert reverse("admin:claims_claimpayment_changelist") + "?awaiting=mine" in dashboard
    assert "<script" not in dashboard
    awaiting = client.get(reverse("admin:claims_claimpayment_changelist"), {"awaiting": "mine"})
    assert len(awaiting.context["cl"].result_list) == 1
