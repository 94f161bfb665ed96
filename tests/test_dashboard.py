"""The admin index dashboard: correct figures for a known data set, per-role sections, constant queries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from policies.models import Policy
from tests import factories
from tests.admin_support import count_queries
from vanguard.dashboard import _month_start, dashboard_for

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def days_ago(days: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


@pytest.fixture
def book(manager, adjuster):
    """Four open claims (two of them the manager's), two closed; policies expiring and written."""
    factories.ClaimFactory(reported_date=days_ago(40), assigned_to=manager)  # pending, waiting, 30-90
    factories.ClaimFactory(reported_date=days_ago(1), assigned_to=adjuster)  # pending, under 7
    factories.ClaimFactory(processing=True, reported_date=days_ago(10), assigned_to=manager)  # 7-30
    factories.ClaimFactory(approved=True, reported_date=days_ago(100))  # waiting, over 90
    factories.ClaimFactory(paid=True, reported_date=days_ago(200), assigned_to=manager)  # not open
    factories.ClaimFactory(denied=True, reported_date=days_ago(50))  # not open
    start = days_ago(355)
    factories.PolicyFactory(
        start_date=start, end_date=timezone.now() + dt.timedelta(days=10), premium_amount=Decimal("1000.00")
    )  # expiring
    factories.PolicyFactory(
        inactive=True,
        start_date=start,
        end_date=timezone.now() + dt.timedelta(days=5),
        premium_amount=Decimal("200.00"),
    )  # suspended: not counted as expiring
    factories.PolicyFactory(
        start_date=start, end_date=timezone.now() + dt.timedelta(days=40), premium_amount=Decimal("300.00")
    )  # ends after 30 days
    older = factories.PolicyFactory(premium_amount=Decimal("700.00"))
    # written last month (created_at is set on insert; the test moves it back)
    Policy.objects.filter(pk=older.pk).update(created_at=_month_start(timezone.now(), 1) + dt.timedelta(days=1))


def tile(board, label: str):
    return next(t for t in board.tiles if t.label == label)


def test_dashboard_figures_for_a_known_book(book, manager):
    # when
    board = dashboard_for(manager)
    # then
    assert tile(board, "Open claims").value == "4"
    assert "2 pending · 1 processing · 1 approved" in tile(board, "Open claims").note
    assert tile(board, "Assigned to me").value == "2"
    assert tile(board, "Waiting over 30 days").value == "2"
    assert tile(board, "Policies expiring in 30 days").value == "1"
    # six claims' policies at 500.00, plus 1,000.00 + 200.00 + 300.00 written this month
    assert tile(board, "Premium written this month").value == "4,500.00 EUR"
    assert tile(board, "Premium written this month").note.endswith(f"since 1 {timezone.now():%b %Y}")
    charts = {chart.title: str(chart.svg) for chart in board.charts}
    assert "Pending: 2" in charts["Open claims by status"] and "Approved: 1" in charts["Open claims by status"]
    ageing = charts["Open claims by age"]
    for label in ("under 7 days: 1", "7-30 days: 1", "30-90 days: 1", "over 90 days: 1"):
        assert label in ageing
    last_month = _month_start(timezone.now(), 1)
    assert f"{last_month:%B %Y}: 700.00 EUR" in charts["Premium written by month"]
    assert f"{timezone.now():%B %Y}: 4,500.00 EUR" in charts["Premium written by month"]


def test_the_index_page_renders_the_dashboard_as_inline_svg(client, book, manager):
    # given
    client.force_login(manager)
    # when
    response = client.get(INDEX)
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "Vanguard back office" in html
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="vanguard-chart"') == 4  # with the loss ratio
    dashboard = html.split('class="vanguard-dashboard"')[1].split("</section>")[0]
    assert (
        "<script" not in dashboard
        and "style=" not in dashboard
        and "http" not in dashboard.replace("http://www.w3.org/2000/svg", "")
    )
    assert reverse("admin:claims_claim_changelist") + "?status=open&amp;assignee=mine" in html


def test_the_tiles_link_to_the_matching_lists(client, book, manager):
    # given
    client.force_login(manager)
    board = dashboard_for(manager)
    # when
    waiting = client.get(tile(board, "Waiting over 30 days").url)
    expiring = client.get(tile(board, "Policies expiring in 30 days").url)
    # then
    assert len(waiting.context["cl"].result_list) == 2
    assert len(expiring.context["cl"].result_list) == 1


def test_sections_follow_the_users_permissions(book, underwriter, adjuster):
    # when
    underwriting = dashboard_for(underwriter)
    claims = dashboard_for(adjuster)
    # then: underwriters do not see claims; everyone with policies sees the premium
    assert {t.label for t in underwriting.tiles} == {"Policies expiring in 30 days", "Premium written this month"}
    assert tile(claims, "Assigned to me").value == "1"


def test_the_index_runs_the_same_number_of_queries_for_2_and_22_rows(client, manager):
    # given
    factories.ClaimFactory.create_batch(2, assigned_to=manager)
    client.force_login(manager)
    client.get(INDEX)
    cache.clear()
    # when
    with_two = count_queries(client, INDEX)
    factories.ClaimFactory.create_batch(10, assigned_to=manager)
    factories.ClaimFactory.create_batch(10, processing=True, reported_date=days_ago(45))
    cache.clear()
    with_twenty_two = count_queries(client, INDEX)
    # then
    assert with_two == with_twenty_two


def test_shared_figures_are_cached_between_visits(client, manager):
    # given
    factories.ClaimFactory(assigned_to=manager)
    client.force_login(manager)
    first = count_queries(client, INDEX)
    # when
    second = count_queries(client, INDEX)
    # then: the aggregates over claims and policies (3) and the money's (open reserves, paid this month, earned
    # premium and net incurred by type: 4) are not repeated; "assigned to me" and "awaiting my approval" always are
    assert second == first - 7
