"""Idempotency-Key on creating POSTs (SPEC §3)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from claims.models import Claim, ClaimDocument
from customers.models import Customer
from policies.models import Policy
from tests.api_client import assert_problem
from tests.factories import ClaimFactory, CustomerFactory, PolicyFactory

pytestmark = pytest.mark.django_db

CUSTOMER = {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace", "gdpr_consent": True}


def test_same_key_and_body_replays_the_first_response_and_creates_one_record(api_as, customer_service):
    # given
    client = api_as(customer_service)
    first = client.post("/api/customers", CUSTOMER, headers={"Idempotency-Key": "k-1"})
    # when
    replay = client.post("/api/customers", {**CUSTOMER, "gdpr_consent": True}, headers={"Idempotency-Key": "k-1"})
    # then
    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content
    assert replay["Idempotent-Replayed"] == "true"
    assert Customer.objects.count() == 1


def test_same_key_with_another_body_is_422(api_as, customer_service):
    client = api_as(customer_service)
    client.post("/api/customers", CUSTOMER, headers={"Idempotency-Key": "k-2"})
    response = client.post("/api/customers", {**CUSTOMER, "first_name": "Grace"}, headers={"Idempotency-Key": "k-2"})
    assert_problem(response, 422, "VALIDATION_ERROR")
    assert Customer.objects.count() == 1


def test_keys_are_per_user(api_as, customer_service):
    from tests.factories import staff

    other = staff("Customer service")
    api_as(customer_service).post("/api/customers", CUSTOMER, headers={"Idempotency-Key": "shared"})
    response = api_as(other).post(
        "/api/customers", {**CUSTOMER, "email": "b@example.com"}, headers={"Idempotency-Key": "shared"}
    )
    assert response.status_code == 201
    assert Customer.objects.count() == 2


def test_a_failed_request_does_not_burn_the_key(api_as, customer_service):
    client = api_as(customer_service)
    refused = client.post("/api/customers", {**CUSTOMER, "gdpr_consent": False}, headers={"Idempotency-Key": "k-3"})
    assert refused.status_code == 400
    # the refused request left no record: the corrected request may use the same key
    assert client.post("/api/customers", CUSTOMER, headers={"Idempotency-Key": "k-3"}).status_code == 201
    assert Customer.objects.count() == 1


def test_an_expired_key_starts_afresh(api_as, customer_service):
    from vanguard.api_support.models import IdempotencyRecord

    client = api_as(customer_service)
    client.post("/api/customers", CUSTOMER, headers={"Idempotency-Key": "k-5"})
    IdempotencyRecord.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    response = client.post(
        "/api/customers", {**CUSTOMER, "email": "new@example.com"}, headers={"Idempotency-Key": "k-5"}
    )
    assert response.status_code == 201
    assert Customer.objects.count() == 2


def test_policies_claims_and_documents_honour_the_key(api_as, superuser):
    # given
    client = api_as(superuser)
    customer = CustomerFactory()
    start = timezone.now() - dt.timedelta(days=1)
    policy_body = {
        "customer_id": str(customer.pk),
        "policy_type": "auto",
        "premium_amount": "500.00",
        "coverage_amount": "5000.00",
        "start_date": start.isoformat(),
        "end_date": (start + dt.timedelta(days=365)).isoformat(),
    }
    policy = PolicyFactory()
    claim_body = {
        "policy_id": str(policy.pk),
        "claim_type": "theft",
        "claim_amount": "50.00",
        "incident_date": start.isoformat(),
    }
    claim = ClaimFactory()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100

    def upload():
        return client.call(
            "POST",
            f"/api/claims/{claim.pk}/documents",
            {"file": SimpleUploadedFile("a.png", png)},
            content_type="multipart/form-data",
            headers={"Idempotency-Key": "doc"},
        )

    # when
    for _ in range(2):
        assert client.post("/api/policies", policy_body, headers={"Idempotency-Key": "pol"}).status_code == 201
        assert client.post("/api/claims", claim_body, headers={"Idempotency-Key": "clm"}).status_code == 201
        assert upload().status_code == 201
    # then
    assert Policy.objects.filter(customer=customer).count() == 1
    assert Claim.objects.filter(policy=policy).count() == 1
    assert ClaimDocument.objects.filter(claim=claim).count() == 1


def test_an_overlong_key_is_422(api_as, customer_service):
    response = api_as(customer_service).post("/api/customers", CUSTOMER, headers={"Idempotency-Key": "k" * 300})
    assert_problem(response, 422)
    assert not Customer.objects.exists()


def test_prune_drops_expired_replays_and_old_login_attempts_only(api_as, customer_service, settings):
    # given: one replay record and one login attempt on each side of their windows
    from vanguard.api_support.models import IdempotencyRecord, LoginAttempt
    from vanguard.api_support.tasks import prune_api_records

    settings.LOGIN_ATTEMPT_RETENTION_DAYS = 30
    client = api_as(customer_service)
    client.post("/api/customers", CUSTOMER, headers={"Idempotency-Key": "old"})
    client.post("/api/customers", {**CUSTOMER, "email": "grace@example.com"}, headers={"Idempotency-Key": "new"})
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - dt.timedelta(hours=25))
    old, recent = (
        LoginAttempt.objects.create(username=name, outcome="failed", interface="api")
        for name in ("old@example.com", "recent@example.com")
    )
    LoginAttempt.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=31))
    # when
    pruned = prune_api_records.delay().get()
    again = prune_api_records()
    # then
    assert pruned == {"idempotency_records": 1, "login_attempts": 1}
    assert again == {"idempotency_records": 0, "login_attempts": 0}
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    assert list(LoginAttempt.objects.values_list("pk", flat=True)) == [recent.pk]


def test_a_replay_is_rendered_again_for_the_caller_and_no_body_is_kept(api_as, customer_service):
    # given: a customer with contact data, created with a key by someone allowed to see it in clear
    from compliance.models import PIIAccessLog
    from vanguard.api_support.models import IdempotencyRecord

    client = api_as(customer_service)
    body = {**CUSTOMER, "phone": "+447700900123", "address": "1 High Street, London"}
    first = client.post("/api/customers", body, headers={"Idempotency-Key": "pii-1"})
    # when
    replay = client.post("/api/customers", body, headers={"Idempotency-Key": "pii-1"})
    # then: the same answer, each clear view in the access log, and nothing personal stored for the replay
    assert first.status_code == replay.status_code == 201 and replay.json() == first.json()
    assert replay.json()["phone"] == "+447700900123"
    assert PIIAccessLog.objects.filter(customer_id=first.json()["id"]).count() == 2
    record = IdempotencyRecord.objects.get(key="pii-1")
    assert (record.status_code, str(record.resource_id)) == (201, first.json()["id"])
    assert {f.name for f in IdempotencyRecord._meta.get_fields()} >= {"resource_id", "status_code"}
    assert "response_body" not in {f.name for f in IdempotencyRecord._meta.get_fields()}


def test_renew_honours_the_key(api_as, underwriter):
    # given a renewal sent with a key
    policy = PolicyFactory()
    client = api_as(underwriter)
    key = {"Idempotency-Key": "renew-1"}
    first = client.post(f"/api/policies/{policy.pk}/renew", {"premium_amount": "1250.00"}, headers=key)
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    # when it is retried with the same key and body, then the first answer is replayed
    replay = client.post(f"/api/policies/{policy.pk}/renew", {"premium_amount": "1250.00"}, headers=key)
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    # and the same key with another body is a 422 that writes nothing
    other = client.post(f"/api/policies/{policy.pk}/renew", {"premium_amount": "1300.00"}, headers=key)
    assert_problem(other, 422, "VALIDATION_ERROR")
    assert Policy.objects.filter(renewal_of=policy).count() == 1
