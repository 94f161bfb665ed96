"""Every list endpoint runs a constant number of queries whatever the page size (SPEC §3, §9)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

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


def test_filing_a_claim_reads_nothing_it_already_holds(api_as, adjuster, django_assert_max_num_queries):
    # given: a claimable policy, and the caller's principal cached
    policy = PolicyFactory()
    api = api_as(adjuster)
    assert api.get("/api/auth/me").status_code == 200
    # an offset other than UTC and an amount as a JSON number: the body must still show what the database holds
    incident = (timezone.now() - dt.timedelta(days=2)).astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
    body = {
        "policy_id": str(policy.pk),
        "claim_type": "accident",
        "claim_amount": 100.5,
        "incident_date": incident.isoformat(),
    }
    # then: the policy row lock (with the customer's summary), the claim (numbered under a savepoint), its audit
    # entry, its event and the event's audit entry, the notification's outbox row — and no read of the foreign
    # keys just locked or of the claim just written
    # (plus two content-type reads: the test run clears the ContentType cache a server keeps per process)
    with django_assert_max_num_queries(12) as captured:
        created = api.post("/api/claims", body)
    assert created.status_code == 201, created.json()
    sql = [q["sql"] for q in captured.captured_queries]
    assert not any(s.startswith("SELECT 1 AS") for s in sql), sql  # no foreign-key existence checks
    reads = [s for s in sql if s.startswith("SELECT") and "django_content_type" not in s]
    assert len(reads) == 1 and "FOR NO KEY UPDATE" in reads[0], reads  # only the locked policy
    # and: the body rendered from what the service held is the body a read returns
    assert created.json() == api.get(f"/api/claims/{created.json()['id']}").json()


def test_creating_a_customer_writes_and_reads_nothing_more(api_as, superuser, django_assert_max_num_queries):
    # given: the caller's principal cached
    api = api_as(superuser)
    assert api.get("/api/auth/me").status_code == 200
    body = {
        "email": "Ada.Lovelace@Example.com",
        "first_name": " Ada ",
        "last_name": "Lovelace",
        "gdpr_consent": True,
        "phone": "+442079460958",
        "date_of_birth": "1990-12-10",
        "address": "12 St James's Square, London",
    }
    # then: the customer and its audit entry, the access-log row of the clear view, and nothing else: no
    # savepoint, no read back of the row just written (plus the content-type read the test run's cache lacks)
    # (in a test the service's own transaction is a savepoint inside the test's: that pair is counted too)
    with django_assert_max_num_queries(6) as captured:
        created = api.post("/api/customers", body)
    assert created.status_code == 201, created.json().get("errors")
    sql = [q["sql"] for q in captured.captured_queries]
    assert sum(s.startswith("SAVEPOINT") for s in sql) == 1, sql  # the service's transaction, none inside it
    statements = [s.split(" ")[0] for s in sql if "django_content_type" not in s and "SAVEPOINT" not in s]
    assert statements == ["INSERT", "INSERT", "INSERT"], sql
    # and: the body is the body a read returns (normalised e-mail, trimmed names)
    assert created.json() == api.get(f"/api/customers/{created.json()['id']}").json()
    assert created.json()["email"] == "ada.lovelace@example.com"


def test_a_duplicate_customer_is_a_409_and_the_transaction_stays_usable(api_as, superuser):
    api = api_as(superuser)
    body = {"email": "dup@example.com", "first_name": "A", "last_name": "B", "gdpr_consent": True}
    assert api.post("/api/customers", body).status_code == 201
    assert api.post("/api/customers", {**body, "email": "DUP@example.com"}).status_code == 409
    assert api.get("/api/customers", {"page_size": 5}).status_code == 200  # no aborted transaction left behind
