"""No input, however malformed, produces a 500, and an invalid write changes nothing (SPEC §3)."""

from __future__ import annotations

import pytest

from claims.models import Claim
from customers.models import Customer
from policies.models import Policy
from tests.api.conftest import assert_problem
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
    (b'{"email":"a@example.com","first_name":"' + b"x" * 1_000_000 + b'","last_name":"B","gdpr_consent":true}',
     "application/json", 422),
    (b'{"email":"a@example.com","first_name":"A","last_name":"B","gdpr_consent":true,"id":"x"}',
     "application/json", 422),
    (b'{"email":"a@example.com","first_name":"A","last_name":"B","gdpr_consent":null}', "application/json", 422),
    (b'{"email":"a@example.com","first_name":"A","last_name":"B","gdpr_consent":true,"date_of_birth":"1990-02-30"}',
     "application/json", 422),
    (b'{"email":"a@example.com","first_name":"\\u0000","last_name":"B","gdpr_consent":true}', "application/json",
     422),
]


@pytest.mark.parametrize(("raw", "content_type", "status"), BAD_CUSTOMER_BODIES,
                         ids=[f"body-{i}" for i in range(len(BAD_CUSTOMER_BODIES))])
def test_malformed_customer_bodies_are_problems_and_create_nothing(api_as, customer_service, raw, content_type,
                                                                   status):
    response = api_as(customer_service).call("POST", "/api/customers", raw=raw, content_type=content_type)
    assert_problem(response, status)
    assert not Customer.objects.exists()


BAD_CLAIM_FIELDS = [
    {"policy_id": "not-a-uuid"}, {"policy_id": 42}, {"claim_amount": "1e400"}, {"claim_amount": "-0.01"},
    {"claim_amount": 12345678901234567.0}, {"claim_amount": "ten"}, {"claim_amount": True},
    {"claim_type": "alien"}, {"incident_date": "yesterday"}, {"incident_date": "2024-13-40T00:00:00Z"},
    {"incident_date": "2024-06-15T10:30:00"}, {"description": "x" * 5001},
]


@pytest.mark.parametrize("override", BAD_CLAIM_FIELDS, ids=[next(iter(o)) + str(i) for i, o in
                                                             enumerate(BAD_CLAIM_FIELDS)])
def test_malformed_claim_fields_are_422_and_create_nothing(api_as, adjuster, override):
    policy = PolicyFactory()
    body = {"policy_id": str(policy.pk), "claim_type": "accident", "claim_amount": "100.00",
            "incident_date": "2024-06-15T10:30:00Z", **override}
    assert_problem(api_as(adjuster).post("/api/claims", body), 422, "VALIDATION_ERROR")
    assert not Claim.objects.exists()


@pytest.mark.parametrize(
    "query",
    [{"page": "-1"}, {"page": "1.5"}, {"page_size": "1e3"}, {"status": "x" * 10_000}, {"customer_id": "zzz"},
     {"premium_min": "NaN"}, {"premium_min": "1" * 50}, {"active_on": "0000-00-00"}, {"status": "active\x00"}],
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


def test_wrong_methods_and_unknown_paths_do_not_crash(api_as, superuser):
    client = api_as(superuser)
    assert client.call("PUT", "/api/customers", {}).status_code == 405
    assert_problem(client.get("/api/customers/00000000-0000-4000-8000-000000000000/nothing"), 404)


def test_nul_characters_in_a_multipart_field_are_refused(api_as, adjuster):
    from django.core.files.uploadedfile import SimpleUploadedFile

    claim = ClaimFactory()
    response = api_as(adjuster).call(
        "POST", f"/api/claims/{claim.pk}/documents",
        {"file": SimpleUploadedFile("a\x00.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64), "document_type": "photo\x00"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422


def test_customer_search_with_nul_is_422(api_as, superuser):
    assert_problem(api_as(superuser).get("/api/customers", {"search": "a\x00b"}), 422)


def test_an_oversized_header_value_is_refused_cleanly(api_as, superuser):
    response = api_as(superuser).post("/api/customers", {"email": "a@example.com", "first_name": "A",
                                                          "last_name": "B", "gdpr_consent": True},
                                      headers={"If-Match": "x" * 5000, "Idempotency-Key": "k" * 5000})
    assert response.status_code == 422
