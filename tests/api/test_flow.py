"""End to end through the API, the audit-log endpoint, and concurrency against PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from claims.models import Claim, ClaimEvent
from compliance.models import AuditEntry
from tests.api_client import Api, assert_problem
from tests.factories import ClaimFactory, CustomerFactory, staff
from vanguard.accounts import roles


@pytest.mark.django_db
def test_customer_policy_claim_processing_approved_with_audit_entries(
    api_as, customer_service, underwriter, adjuster, compliance_officer
):
    # given
    start = timezone.now() - dt.timedelta(days=10)
    # when
    customer = (
        api_as(customer_service)
        .post(
            "/api/customers",
            {
                "email": "flow@example.com",
                "first_name": "Flo",
                "last_name": "W",
                "gdpr_consent": True,
                "phone": "+447700900123",
            },
        )
        .json()
    )
    policy = (
        api_as(underwriter)
        .post(
            "/api/policies",
            {
                "customer_id": customer["id"],
                "policy_type": "auto",
                "premium_amount": "600.00",
                "coverage_amount": "20000.00",
                "start_date": start.isoformat(),
                "end_date": (start + dt.timedelta(days=365)).isoformat(),
            },
        )
        .json()
    )
    claim = (
        api_as(adjuster)
        .post(
            "/api/claims",
            {
                "policy_id": policy["id"],
                "claim_type": "accident",
                "claim_amount": "2500.00",
                "incident_date": (start + dt.timedelta(days=2)).isoformat(),
            },
        )
        .json()
    )
    processing = api_as(adjuster).patch(f"/api/claims/{claim['id']}", {"status": "processing"}).json()
    approved = api_as(adjuster).patch(f"/api/claims/{claim['id']}", {"status": "approved"}).json()
    # then
    assert processing["status"] == "processing" and processing["assigned_to"] == str(adjuster.pk)
    assert approved["status"] == "approved" and approved["approved_amount"] == "2500.00"
    for resource_type, resource_id, actor in [
        ("customer", customer["id"], customer_service),
        ("policy", policy["id"], underwriter),
        ("claim", claim["id"], adjuster),
    ]:
        page = (
            api_as(compliance_officer)
            .get("/api/audit-logs", {"resource_type": resource_type, "resource_id": resource_id})
            .json()
        )
        assert page["total"] >= 1
        assert {item["actor_id"] for item in page["items"]} == {str(actor.pk)}
        assert all(item["correlation_id"] for item in page["items"])
    claim_history = (
        api_as(compliance_officer).get("/api/audit-logs", {"resource_type": "claim", "resource_id": claim["id"]}).json()
    )
    assert [i["action"] for i in claim_history["items"]] == ["update", "update", "create"]
    assert ClaimEvent.objects.filter(claim_id=claim["id"], to_status="approved", actor=adjuster).exists()


@pytest.mark.django_db
def test_audit_logs_filters_and_permissions(api_as, compliance_officer, customer_service, adjuster):
    # given
    customer = CustomerFactory()
    client = api_as(customer_service)
    client.patch(f"/api/customers/{customer.pk}", {"first_name": "Changed"})
    client.get(f"/api/customers/{customer.pk}")
    officer = api_as(compliance_officer)
    # then: filters
    updates = officer.get("/api/audit-logs", {"actor_id": str(customer_service.pk), "action": "update"}).json()
    assert [i["resource_id"] for i in updates["items"]] == [str(customer.pk)]
    assert updates["items"][0]["changes"]["first_name"][1] == "Changed"
    assert officer.get("/api/audit-logs", {"since": "2999-01-01T00:00:00Z"}).json()["total"] == 0
    assert officer.get("/api/audit-logs", {"until": "2000-01-01T00:00:00Z"}).json()["total"] == 0
    # then: the PII access log
    pii = officer.get("/api/audit-logs", {"resource_type": "pii_access", "resource_id": str(customer.pk)}).json()
    assert pii["total"] == 2  # the PATCH response and the GET both showed contact data in clear
    assert pii["items"][0]["action"] == "access"
    assert pii["items"][0]["actor_id"] == str(customer_service.pk)
    # then: permissions
    assert_problem(client.get("/api/audit-logs"), 403)
    assert_problem(client.get("/api/audit-logs", {"resource_type": "pii_access", "resource_id": str(customer.pk)}), 403)
    own = client.get("/api/audit-logs", {"resource_type": "customer", "resource_id": str(customer.pk)})
    assert own.status_code == 200 and own.json()["total"] == 2
    assert_problem(
        api_as(adjuster).get("/api/audit-logs", {"resource_type": "user", "resource_id": str(adjuster.pk)}), 403
    )
    assert_problem(officer.get("/api/audit-logs", {"resource_type": "spaceship"}), 422)


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_approvals_approve_once():
    # given
    roles.bootstrap_roles()
    manager = staff(roles.CLAIMS_MANAGER)
    claim = ClaimFactory(claim_amount="5000.00")
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    lock = threading.Lock()

    # Tokens first: a thread waiting at the barrier must not hold a pooled connection another one needs.
    clients = [Api(manager) for _ in range(20)]
    connection.close()

    def approve(client: Api, amount: str):
        barrier.wait(timeout=60)
        response = client.patch(f"/api/claims/{claim.pk}", {"status": "approved", "approved_amount": amount})
        with lock:
            statuses.append(response.status_code)
        connection.close()

    # when: ten ask for one amount, ten for another
    amounts = ["4000.00" if i % 2 else "3000.00" for i in range(20)]
    threads = [threading.Thread(target=approve, args=pair) for pair in zip(clients, amounts, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    # then
    claim.refresh_from_db()
    assert claim.status == Claim.Status.APPROVED
    approvals = ClaimEvent.objects.filter(claim=claim, to_status="approved")
    assert approvals.count() == 1
    winner = str(claim.approved_amount)
    assert statuses.count(200) == 10 and statuses.count(409) == 10, statuses
    assert AuditEntry.objects.filter(object_pk=str(claim.pk), action=AuditEntry.Action.UPDATE).count() == 1
    assert winner in {"3000.00", "4000.00"}
