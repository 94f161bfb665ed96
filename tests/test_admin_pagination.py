"""Deep changelist pages stay fast (issue 13, goal 6): the skipped rows are never joined."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from claims.admin import ClaimAdmin
from claims.models import Claim
from tests import factories
from vanguard import admin as vanguard_admin

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:claims_claim_changelist")


@pytest.fixture
def seven_claims():
    start = timezone.now() - dt.timedelta(days=30)
    claims = [factories.ClaimFactory() for _ in range(7)]
    for day, claim in enumerate(claims):  # distinct creation times: a known order, newest first
        Claim.objects.filter(pk=claim.pk).update(created_at=start + dt.timedelta(days=day))
    return list(Claim.objects.order_by("-created_at", "-pk"))


def page_of(client, page: int):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(CHANGELIST, {"p": page})
    assert response.status_code == 200
    return list(response.context["cl"].result_list), [q["sql"] for q in captured]


def test_a_deep_page_selects_its_keys_first_and_joins_only_its_own_rows(client, superuser, seven_claims, monkeypatch):
    # given: pages of 2, and "deep" from the third row on
    monkeypatch.setattr(ClaimAdmin, "list_per_page", 2)
    monkeypatch.setattr(vanguard_admin, "DEFERRED_JOIN_FROM", 2)
    client.force_login(superuser)
    # when
    shallow, _ = page_of(client, 1)
    deep, queries = page_of(client, 2)
    last, _ = page_of(client, 4)
    # then: the same rows in the same order as plain OFFSET paging would give
    assert shallow == seven_claims[0:2]
    assert deep == seven_claims[2:4]
    assert last == seven_claims[6:7]
    offset_queries = [sql for sql in queries if "OFFSET" in sql and '"claims_claim"' in sql]
    assert offset_queries, "the page's keys are chosen with OFFSET"
    assert all("customers_customer" not in sql and "accounts_user" not in sql for sql in offset_queries)
    joined = [sql for sql in queries if "customers_customer" in sql and "claims_claim" in sql]
    assert joined and all("OFFSET" not in sql for sql in joined)


def test_a_shallow_page_is_one_query_as_before(client, superuser, seven_claims, monkeypatch):
    monkeypatch.setattr(ClaimAdmin, "list_per_page", 2)
    client.force_login(superuser)
    _, queries = page_of(client, 1)
    assert len([sql for sql in queries if '"claims_claim"."claim_number"' in sql]) == 1


def test_a_search_matching_many_rows_is_counted_up_to_the_bound_then_estimated(
    client, superuser, seven_claims, monkeypatch
):
    # given: exact counts up to 3 rows; all seven claims match the search
    monkeypatch.setattr(vanguard_admin, "COUNT_EXACTLY_UP_TO", 3)
    client.force_login(superuser)
    # when: every factory customer's e-mail is at example.test
    with CaptureQueriesContext(connection) as captured:
        response = client.get(CHANGELIST, {"q": "example"})
    # then: the count stopped at 4 rows, the planner's estimate was asked instead of counting the rest
    assert response.status_code == 200
    counts = [q["sql"] for q in captured if "COUNT(*)" in q["sql"]]
    assert counts and all("LIMIT 4" in sql for sql in counts)
    assert any(q["sql"].startswith("EXPLAIN") for q in captured)
    assert response.context["cl"].result_count >= 4
    # and a search matching fewer rows than the bound is counted exactly
    one = seven_claims[0]
    response = client.get(CHANGELIST, {"q": one.claim_number})
    assert response.context["cl"].result_count == 1
