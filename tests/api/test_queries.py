"""Every list endpoint runs a constant number of queries whatever the page size (SPEC §3, §9)."""

from __future__ import annotations

import pytest

from tests.factories import ClaimDocumentFactory, ClaimFactory, CustomerFactory, PolicyFactory

pytestmark = pytest.mark.django_db


def _claims(n):
    for _ in range(n):
        ClaimDocumentFactory(claim=ClaimFactory())


def _customer_edits(n, api):
    for _ in range(n):
        customer = CustomerFactory()
        api.patch(f"/api/customers/{customer.pk}", {"first_name": "Edited"})


@pytest.mark.parametrize(
    ("path", "build"),
    [
        ("/api/customers", lambda n, api: CustomerFactory.create_batch(n)),
        ("/api/policies", lambda n, api: PolicyFactory.create_batch(n)),
        ("/api/claims", lambda n, api: _claims(n)),
        ("/api/audit-logs", _customer_edits),
        ("/api/audit-logs?pii", _customer_edits),
    ],
)
def test_list_query_count_is_the_same_for_2_and_22_rows(api_as, superuser, django_assert_num_queries, path, build):
    # given
    api = api_as(superuser)
    assert api.get("/api/auth/me").status_code == 200  # the caller's principal is cached from here on
    build(2, api)
    query = {"page_size": 100}
    if path.endswith("?pii"):
        path, query = path.removesuffix("?pii"), {**query, "resource_type": "pii_access"}
    with django_assert_num_queries(1):  # the page with its total
        small = api.get(path, query)
    # when
    build(20, api)
    with django_assert_num_queries(1):
        large = api.get(path, query)
    # then
    assert small.status_code == large.status_code == 200
    assert len(large.json()["items"]) > len(small.json()["items"]) >= 2


def test_detail_reads_are_one_query_after_authentication(api_as, adjuster, django_assert_num_queries):
    # given
    policy = PolicyFactory()
    api = api_as(adjuster)
    # then: the caller, then the policy with its customer summary
    with django_assert_num_queries(2):
        assert api.get(f"/api/policies/{policy.pk}").status_code == 200
