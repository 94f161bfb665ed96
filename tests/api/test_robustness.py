"""No input, however malformed, produces a 500, and an invalid write changes nothing (SPEC §3)."""

from __future__ import annotations

import pytest

from claims.models import Claim
from customers.models import Customer
from policies.models import Policy
from tests.api_client import assert_problem
from tests.factories import ClaimFactory, CustomerFactory, PolicyFactory

pytestmark = pytest.mark.django_db

GOOD = b'{"email":"a@example.com","first_name":"A","last_name":"B","gdpr_consent":true}'

BAD_CUSTOMER_BODIES = [
    (b"{", "application/json", 422),
    (b'{"email":"a@example.com","first_name":NaN,"last_name":"B","gdpr_consent":true}', "application/json", 422),
    (b'{"gdpr_consent": Infinity}', "application/json", 422),
    (GOOD + b"garbage", "application/json", 422),
    (b'{"email":"\xff\xfe","first_name":"A","last_name":"B","gdpr_consent":true}', "application/json", 422),
    (b'{"email":"\\ud800@x.com","first_name":"A","last_name":"B","gdpr_consent":true}', "application/json", 422),
    (b"", "application/json", 422),
    (b"[]", "application/json", 422),
    (b"null", "application/json", 422),
    (b'"just a string"', "application/json", 422),
    (b"[" * 5000 + b"]" * 5000, "application/json", 422),
    (b"email=a@example.com&first_name=A", "application/x-www-form-urlencoded", 415),
    (b'{"email":["a@example.com"],"first_name":"A","last_name":"B","gdpr_consent":true}', "application/json", 422),
    (
        b'{"email":"a@example.com","first_name":"' + b"x" * 1_000_000 + b'","last_name":"B","gdpr_consent":true}',
        "application/json",
        422,
    ),
    (
        b'{"email":"a@example.com","first_name":"A","last_name":"B","gdpr_consent":true,"id":"x"}',
        "application/json",
        422,
    ),
    (b'{"email":"a@example.com","first_name":"A","last_name":"B","gdpr_consent":null}', "application/json", 422),
    (
        b'{"email":"a@example.com","first_name":"A","last_name":"B","gdpr_consent":true,"date_of_birth":"1990-02-30"}',
        "application/json",
        422,
    ),
    (b'{"email":"a@example.com","first_name":"\\u0000","last_name":"B","gdpr_consent":true}', "application/json", 422),
]


@pytest.mark.parametrize(
    ("raw", "content_type", "status"), BAD_CUSTOMER_BODIES, ids=[f"body-{i}" for i in range(len(BAD_CUSTOMER_BODIES))]
)
def test_malformed_customer_bodies_are_problems_and_create_nothing(api_as, customer_service, raw, content_type, status):
    response = api_as(customer_service).call("POST", "/api/customers", raw=raw, content_type=content_type)
    assert_problem(response, status)
    assert not Customer.objects.exists()


BAD_CLAIM_FIELDS = [
    {"policy_id": "not-a-uuid"},
    {"policy_id": 42},
    {"claim_amount": "1e400"},
    {"claim_amount": "-0.01"},
    {"claim_amount": 12345678901234567.0},
    {"claim_amount": "ten"},
    {"claim_amount": True},
    {"claim_type": "alien"},
    {"incident_date": "yesterday"},
    {"incident_date": "2024-13-40T00:00:00Z"},
    {"incident_date": "2024-06-15T10:30:00"},
    {"description": "x" * 5001},
]


@pytest.mark.parametrize(
    "override", BAD_CLAIM_FIELDS, ids=[next(iter(o)) + str(i) for i, o in enumerate(BAD_CLAIM_FIELDS)]
)
def test_malformed_claim_fields_are_422_and_create_nothing(api_as, adjuster, override):
    policy = PolicyFactory()
    body = {
        "policy_id": str(policy.pk),
        "claim_type": "accident",
        "claim_amount": "100.00",
        "incident_date": "2024-06-15T10:30:00Z",
        **override,
    }
    assert_problem(api_as(adjuster).post("/api/claims", body), 422, "VALIDATION_ERROR")
    assert not Claim.objects.exists()


@pytest.mark.parametrize(
    "query",
    [
        {"page": "-1"},
        {"page": "1.5"},
        {"page_size": "1e3"},
        {"status": "x" * 10_000},
        {"customer_id": "zzz"},
        {"premium_min": "NaN"},
        {"premium_min": "1" * 50},
        {"active_on": "0000-00-00"},
        {"status": "active\x00"},
    ],
)
def test_bad_query_parameters_are_422(api_as, superuser, query):
    assert_problem(api_as(superuser).get("/api/policies", query), 422)


def test_invalid_patch_changes_nothing(api_as, superuser):
    # given
    claim = ClaimFactory(description="before")
    policy = PolicyFactory(premium_amount="500.00")
    customer = CustomerFactory(first_name="Ada")
    client = api_as(superuser)
    # when
    responses = [
        client.patch(f"/api/claims/{claim.pk}", {"description": "after", "approved_amount": "abc"}),
        client.patch(f"/api/claims/{claim.pk}", {"description": "after", "status": "paid"}),
        client.patch(f"/api/policies/{policy.pk}", {"premium_amount": "1.00"}),
        client.patch(f"/api/customers/{customer.pk}", {"first_name": "Grace", "last_name": ""}),
        client.call("PATCH", f"/api/customers/{customer.pk}", raw=b'{"first_name": "Grace"'),
    ]
    # then
    assert [r.status_code for r in responses] == [422, 409, 400, 422, 422]
    claim.refresh_from_db()
    policy.refresh_from_db()
    customer.refresh_from_db()
    assert (claim.description, claim.status) == ("before", "pending")
    assert str(policy.premium_amount) == "500.00"
    assert customer.first_name == "Ada"
    assert not Policy.objects.exclude(pk=policy.pk).exclude(pk=claim.policy_id).exists()


EDGE_OF_TIME = [
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T00:00:00Z",
    "1899-12-31T00:00:00Z",
    "3000-01-01T00:00:00Z",
]


@pytest.mark.parametrize("moment", EDGE_OF_TIME)
def test_dates_at_the_edges_of_time_are_422_everywhere_and_change_nothing(api_as, superuser, moment):
    # given
    customer = CustomerFactory()
    policy = PolicyFactory(customer=customer)
    client = api_as(superuser)
    term = {
        "customer_id": str(customer.pk),
        "policy_type": "auto",
        "premium_amount": "500.00",
        "coverage_amount": "10000.00",
    }
    # when
    responses = [
        client.post("/api/policies", {**term, "start_date": "2025-01-01T00:00:00Z", "end_date": moment}),
        client.post("/api/policies", {**term, "start_date": moment, "end_date": "2026-01-01T00:00:00Z"}),
        client.patch(f"/api/policies/{policy.pk}", {"end_date": moment}),
        client.patch(
            f"/api/policies/{policy.pk}", {"status": "cancelled", "cancellation_reason": "x", "effective_date": moment}
        ),
        client.post(f"/api/policies/{policy.pk}/renew", {"start_date": moment}),
        client.post(
            "/api/claims",
            {"policy_id": str(policy.pk), "claim_type": "accident", "claim_amount": "1.00", "incident_date": moment},
        ),
        client.get("/api/policies", {"active_on": moment}),
        client.get("/api/claims", {"incident_after": moment}),
        client.get("/api/customers", {"created_before": moment}),
    ]
    # then
    for response in responses:
        assert_problem(response, 422, "VALIDATION_ERROR")
    policy.refresh_from_db()
    assert policy.status == "active" and Policy.objects.count() == 1 and not Claim.objects.exists()


def test_a_policy_term_outside_the_years_is_refused_by_the_service_too(underwriter, customer_service):
    # the admin's path: no schema in front of the service
    import datetime as dt
    from decimal import Decimal

    from django.core.exceptions import ValidationError

    from policies import services

    customer = CustomerFactory()
    with pytest.raises(ValidationError) as refused:
        services.policy_create(
            actor=underwriter,
            customer_id=customer.pk,
            policy_type="auto",
            premium_amount=Decimal("500.00"),
            coverage_amount=Decimal("1000.00"),
            start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
            end_date=dt.datetime(9999, 12, 31, tzinfo=dt.UTC),
        )
    assert "end_date" in refused.value.message_dict
    assert not Policy.objects.exists()


def test_wrong_methods_and_unknown_paths_do_not_crash(api_as, superuser):
    client = api_as(superuser)
    for method, path in (
        ("PUT", "/api/customers"),
        ("DELETE", "/api/claims/00000000-0000-4000-8000-000000000000"),
        ("GET", "/api/auth/login"),
    ):
        body = assert_problem(client.call(method, path, {}), 405, "METHOD_NOT_ALLOWED")
        assert method in body["detail"]
    assert_problem(client.get("/api/customers/00000000-0000-4000-8000-000000000000/nothing"), 404)


def test_nul_characters_in_a_multipart_field_are_refused(api_as, adjuster):
    from django.core.files.uploadedfile import SimpleUploadedFile

    claim = ClaimFactory()
    response = api_as(adjuster).call(
        "POST",
        f"/api/claims/{claim.pk}/documents",
        {"file": SimpleUploadedFile("a\x00.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64), "document_type": "photo\x00"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422


def test_customer_search_with_nul_is_422(api_as, superuser):
    assert_problem(api_as(superuser).get("/api/customers", {"search": "a\x00b"}), 422)


def test_an_oversized_header_value_is_refused_cleanly(api_as, superuser):
    response = api_as(superuser).post(
        "/api/customers",
        {"email": "a@example.com", "first_name": "A", "last_name": "B", "gdpr_consent": True},
        headers={"If-Match": "x" * 5000, "Idempotency-Key": "k" * 5000},
    )
    assert response.status_code == 422
