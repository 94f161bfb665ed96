"""Lists at scale (issue 13, goal 6): a keyset cursor beside page numbers, a depth cap, estimated totals."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from claims.models import Claim
from customers.models import Customer
from policies.models import Policy
from tests.api_client import assert_problem
from tests.factories import ClaimFactory, CustomerFactory, PolicyFactory
from vanguard.core import pagination

pytestmark = pytest.mark.django_db

LISTS = [
    ("/api/customers", Customer, lambda n: CustomerFactory.create_batch(n)),
    ("/api/policies", Policy, lambda n: PolicyFactory.create_batch(n)),
    ("/api/claims", Claim, lambda n: ClaimFactory.create_batch(n)),
]


def _with_ties(model, rows) -> None:
    """Half the rows share one created_at: the cursor must order ties by id, never skip or repeat one."""
    moment = timezone.now() - dt.timedelta(days=3)
    for i, obj in enumerate(rows):
        model.objects.filter(pk=obj.pk).update(created_at=moment if i % 2 else moment - dt.timedelta(minutes=i))


def _walk(api, path: str, **query) -> tuple[list[str], list[dict]]:
    ids, pages, cursor = [], [], None
    while True:
        body = api.get(path, {**query, **({"cursor": cursor} if cursor else {})}).json()
        pages.append(body)
        ids += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages


@pytest.mark.parametrize(("path", "model", "build"), LISTS)
def test_following_next_cursor_reads_every_row_once_in_page_order(api_as, superuser, path, model, build):
    # given
    _with_ties(model, build(7))
    api = api_as(superuser)
    by_page = [item["id"] for item in api.get(path, {"page_size": 100}).json()["items"]]
    # when
    ids, pages = _walk(api, path, page_size=2)
    # then
    assert ids == by_page and len(ids) == len(set(ids)) >= 7
    assert [len(p["items"]) for p in pages][:-1] == [2] * (len(pages) - 1)
    assert all(p["total"] == len(ids) and not p["total_is_estimate"] for p in pages)
    assert pages[0]["has_previous"] is False and all(p["has_previous"] for p in pages[1:])
    assert all(p["has_next"] for p in pages[:-1]) and pages[-1]["has_next"] is False


def test_the_cursor_keeps_the_filters_and_page_mode_hands_out_a_cursor_too(api_as, superuser):
    # given
    CustomerFactory.create_batch(3, last_name="Lovelace")
    CustomerFactory.create_batch(4, last_name="Hopper")
    api = api_as(superuser)
    # when
    first = api.get("/api/customers", {"last_name": "lovelace", "page_size": 2}).json()
    rest = api.get("/api/customers", {"last_name": "lovelace", "page_size": 2, "cursor": first["next_cursor"]}).json()
    # then
    assert first["total"] == rest["total"] == 3
    assert [i["last_name"] for i in first["items"] + rest["items"]] == ["Lovelace"] * 3
    assert rest["next_cursor"] is None


@pytest.mark.parametrize("cursor", ["garbage", "W10:1abcdef", "a" * 500])
def test_a_cursor_not_issued_by_the_list_is_a_422_naming_the_cursor(api_as, superuser, cursor):
    body = assert_problem(api_as(superuser).get("/api/customers", {"cursor": cursor}), 422, "VALIDATION_ERROR")
    assert "cursor" in body["errors"]


def test_a_cursor_of_another_list_is_refused(api_as, superuser):
    # given: a valid cursor of the policies list
    PolicyFactory.create_batch(3)
    api = api_as(superuser)
    cursor = api.get("/api/policies", {"page_size": 1}).json()["next_cursor"]
    # when / then: same ordering fields, other model
    assert cursor
    assert_problem(api.get("/api/claims", {"cursor": cursor}), 422, "VALIDATION_ERROR")
    assert api.get("/api/policies", {"cursor": cursor}).status_code == 200


def test_page_and_cursor_together_is_a_422(api_as, superuser):
    CustomerFactory.create_batch(2)
    api = api_as(superuser)
    cursor = api.get("/api/customers", {"page_size": 1}).json()["next_cursor"]
    body = assert_problem(api.get("/api/customers", {"cursor": cursor, "page": 2}), 422)
    assert "cursor" in body["errors"]


def test_a_page_deeper_than_the_cap_is_a_422_that_points_to_the_cursor(api_as, superuser):
    api = api_as(superuser)
    depth = pagination.MAX_PAGE_DEPTH
    assert api.get("/api/customers", {"page": depth // 100, "page_size": 100}).status_code == 200
    body = assert_problem(api.get("/api/customers", {"page": depth // 100 + 1, "page_size": 100}), 422)
    assert "cursor" in " ".join(body["errors"]["page"])
    assert_problem(api.get("/api/claims", {"page": 2000}), 422)  # the measured "page 2,000 of 20"


def test_the_cursor_path_runs_one_query_like_the_page_path(api_as, superuser, django_assert_num_queries):
    # given
    CustomerFactory.create_batch(5)
    api = api_as(superuser)
    assert api.get("/api/auth/me").status_code == 200  # the principal is cached from here on
    cursor = api.get("/api/customers", {"page_size": 2}).json()["next_cursor"]
    # when / then
    with django_assert_num_queries(1) as captured:
        assert len(api.get("/api/customers", {"page_size": 2, "cursor": cursor}).json()["items"]) == 2
    # the position is one row comparison, an index condition on (created_at, id), not an OR the index cannot seek
    assert '("customers_customer"."created_at", "customers_customer"."id") <' in captured.captured_queries[0]["sql"]


def test_a_total_above_the_threshold_is_the_planners_estimate_and_says_so(
    api_as, superuser, monkeypatch, django_assert_num_queries
):
    # given: a threshold of 3 rows, 6 customers, fresh statistics
    monkeypatch.setattr(pagination, "ESTIMATE_ABOVE", 3)
    CustomerFactory.create_batch(6)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    api = api_as(superuser)
    assert api.get("/api/auth/me").status_code == 200
    # when: the page (its count stops at 4 rows) and one EXPLAIN for the estimate
    with django_assert_num_queries(2):
        body = api.get("/api/customers", {"page_size": 2}).json()
    small = api.get("/api/customers", {"last_name": "no such name"}).json()
    # then
    assert body["total_is_estimate"] is True and body["total"] >= 4
    assert body["has_next"] is True and body["next_cursor"]
    assert small["total_is_estimate"] is False and small["total"] == 0


def test_a_lists_estimate_is_asked_once_then_remembered_for_a_few_seconds(
    api_as, superuser, monkeypatch, django_assert_num_queries
):
    # given: estimated totals (threshold 3, 6 customers), a clock the test moves
    monkeypatch.setattr(pagination, "ESTIMATE_ABOVE", 3)
    now = [1000.0]
    monkeypatch.setattr(pagination.time, "monotonic", lambda: now[0])
    CustomerFactory.create_batch(6)
    api = api_as(superuser)
    assert api.get("/api/auth/me").status_code == 200
    # when / then: the first page asks the planner; the next pages of the same list within ESTIMATE_SECONDS do not
    with django_assert_num_queries(2):
        first = api.get("/api/customers", {"page_size": 2}).json()
    with django_assert_num_queries(1):
        second = api.get("/api/customers", {"page_size": 2, "page": 2}).json()
    # another filter is another list: its own estimate
    with django_assert_num_queries(2):
        other = api.get("/api/customers", {"page_size": 2, "gdpr_consent": "true"}).json()
    now[0] += pagination.ESTIMATE_SECONDS + 0.1
    with django_assert_num_queries(2):
        later = api.get("/api/customers", {"page_size": 2}).json()
    assert first["total"] == second["total"] == later["total"] and first["total_is_estimate"]
    assert other["total_is_estimate"] and second["items"] != first["items"]


def test_the_page_shape_documents_the_cursor(client):
    schema = client.get("/api/openapi.json").json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/customers"]["get"]["parameters"]}
    assert "next_cursor" in parameters["cursor"]["description"]
    assert "cursor" in parameters["page"]["description"]
    page = schema["components"]["schemas"]["CustomerPage"]
    assert {"next_cursor", "total_is_estimate"} <= set(page["properties"])


def test_a_page_asked_for_again_runs_the_statement_compiled_the_first_time(api_as, superuser, monkeypatch):
    # given: customers, and every SQL compilation counted
    from django.db.models.sql.compiler import SQLCompiler

    CustomerFactory.create_batch(3, last_name="Lovelace")
    CustomerFactory.create_batch(2, last_name="Hopper")
    api = api_as(superuser)
    assert api.get("/api/auth/me").status_code == 200
    first = api.get("/api/customers", {"page_size": 2}).json()
    compiled = []
    real = SQLCompiler.as_sql

    def counting(self, *args, **kwargs):
        compiled.append(self.query.model)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    # when: the same page, then another page, another size and another filter of the same list
    again = api.get("/api/customers", {"page_size": 2}).json()
    compiled_again = len(compiled)
    second = api.get("/api/customers", {"page_size": 2, "page": 2}).json()
    whole = api.get("/api/customers", {"page_size": 5}).json()
    hoppers = api.get("/api/customers", {"page_size": 2, "last_name": "hopp"}).json()
    # then: nothing compiled for the page asked for again, the same answer; each other page is its own
    assert compiled_again == 0 and again == first
    ids = [item["id"] for item in whole["items"]]
    assert [i["id"] for i in first["items"]] == ids[:2] and [i["id"] for i in second["items"]] == ids[2:4]
    assert {i["last_name"] for i in hoppers["items"]} == {"Hopper"} and hoppers["total"] == 2
    assert whole["total"] == 5 and len(compiled) > 0


def test_a_page_searched_by_a_name_or_an_e_mail_is_never_remembered(api_as, superuser):
    # given
    from django.db import connections

    CustomerFactory(last_name="Vexleigh", email="ada.vexleigh@example.com")
    api = api_as(superuser)
    # when: searches by personal values, and the unfiltered list
    for query in ({"last_name": "vexl"}, {"search": "ada.vexleigh"}, {"first_name": "Ad"}, {}):
        assert api.get("/api/customers", query).status_code == 200
    # then: only the unfiltered page is kept, and no kept statement holds a searched value
    kept = connections["default"].__dict__.get("_vanguard_pages", {})  # this thread's: the API ran on it
    assert len(kept) == 1
    assert not [plan for plan in kept.values() if any("vexl" in str(p).lower() for p in plan.params)]


def test_a_remembered_page_reads_the_rows_as_they_are_now(api_as, superuser):
    # given: a page compiled and answered once
    CustomerFactory.create_batch(2)
    api = api_as(superuser)
    before = api.get("/api/customers", {"page_size": 5}).json()
    # when: a customer is added and the same page is asked for again
    newest = CustomerFactory()
    after = api.get("/api/customers", {"page_size": 5}).json()
    # then: the statement is remembered, never its rows
    assert before["total"] == 2 and after["total"] == 3 and after["items"][0]["id"] == str(newest.pk)


def test_the_remembered_page_gives_the_rows_the_orm_gives(superuser):
    # given: a page of the list read both ways (datetimes, uuids, booleans and masked text through their converters)
    from customers import selectors
    from customers.schemas import CustomerFilter

    CustomerFactory.create_batch(4, phone="+442071234567")
    filters, page = CustomerFilter(), pagination.PageQuery(page=1, page_size=3)
    queryset = selectors.customer_queryset(filters)
    fields = selectors.MASKED_LIST_FIELDS
    # when
    plain = pagination.page_of(queryset, page, fields=fields)
    pagination.page_of(queryset, page, fields=fields, shape=("t", 1))
    remembered = pagination.page_of(queryset, page, fields=fields, shape=("t", 1))
    # then
    assert remembered == plain and len(plain["items"]) == 3
    assert all(isinstance(item["created_at"], dt.datetime) for item in remembered["items"])
