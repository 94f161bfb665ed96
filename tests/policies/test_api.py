"""/api/policies (SPEC §3, §2.3)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from compliance.models import AuditEntry
from policies.models import Policy, PolicyEvent
from policies.schemas import PolicyPage, PolicyResponse
from tests.api_client import assert_problem
from tests.factories import CustomerFactory, PolicyFactory
from vanguard.outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db


def body_for(customer, **overrides):
    start = timezone.now() - dt.timedelta(days=1)
    return {
        "customer_id": str(customer.pk),
        "policy_type": "home",
        "premium_amount": "750.00",
        "coverage_amount": 250000,
        "start_date": start.isoformat(),
        "end_date": (start + dt.timedelta(days=365)).isoformat(),
        **overrides,
    }


def test_create_returns_201_active_for_a_started_term_with_money_as_strings(api_as, underwriter):
    # given
    customer = CustomerFactory()
    # when
    response = api_as(underwriter).post("/api/policies", body_for(customer))
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    PolicyResponse.model_validate(body)
    assert body["status"] == "active"
    assert body["premium_amount"] == "750.00" and body["coverage_amount"] == "250000.00"
    assert body["policy_number"].startswith("POL-")
    assert body["customer"]["id"] == str(customer.pk)
    assert PolicyEvent.objects.filter(policy_id=body["id"], kind="created", actor=underwriter).exists()


def test_create_with_a_future_start_is_pending(api_as, underwriter):
    start = timezone.now() + dt.timedelta(days=5)
    response = api_as(underwriter).post(
        "/api/policies",
        body_for(CustomerFactory(), start_date=start.isoformat(), end_date=(start + dt.timedelta(days=30)).isoformat()),
    )
    assert response.json()["status"] == "pending"


def test_premium_below_the_minimum_is_400(api_as, underwriter):
    response = api_as(underwriter).post("/api/policies", body_for(CustomerFactory(), premium_amount="99.99"))
    assert_problem(response, 400, "BUSINESS_RULE")
    assert not Policy.objects.exists()


def test_unknown_customer_is_404(api_as, underwriter):
    customer = CustomerFactory.build()
    customer.pk = uuid.uuid4()
    assert_problem(api_as(underwriter).post("/api/policies", body_for(customer)), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "overrides",
    [
        {"premium_amount": 0},
        {"coverage_amount": "-5"},
        {"policy_type": "boat"},
        {"end_date": "2000-01-01T00:00:00Z"},
        {"premium_amount": "1.001"},
        {"premium_amount": "NaN"},
        {"premium_amount": "Infinity"},
        {"premium_amount": 10**15},
        {"start_date": "2024-01-01T00:00:00"},
    ],
    ids=[
        "zero-premium",
        "negative-coverage",
        "unknown-type",
        "end-before-start",
        "three-decimals",
        "nan",
        "infinity",
        "too-many-digits",
        "naive-datetime",
    ],
)
def test_invalid_fields_are_422(api_as, underwriter, overrides):
    response = api_as(underwriter).post("/api/policies", body_for(CustomerFactory(), **overrides))
    assert_problem(response, 422, "VALIDATION_ERROR")
    assert not Policy.objects.exists()


def test_create_without_permission_is_403(api_as, adjuster):
    assert_problem(api_as(adjuster).post("/api/policies", body_for(CustomerFactory())), 403)


def test_detail_includes_the_customer_summary_and_an_etag(api_as, adjuster):
    policy = PolicyFactory()
    response = api_as(adjuster).get(f"/api/policies/{policy.pk}")
    assert response.status_code == 200
    assert response.json()["customer"] == {
        "id": str(policy.customer.pk),
        "email": policy.customer.email,
        "first_name": policy.customer.first_name,
        "last_name": policy.customer.last_name,
    }
    assert response["ETag"]


def test_unknown_policy_is_404(api_as, adjuster):
    assert_problem(api_as(adjuster).get(f"/api/policies/{uuid.uuid4()}"), 404)


def test_list_filters(api_as, underwriter):
    # given
    home = PolicyFactory(policy_type="home", premium_amount="300.00")
    auto = PolicyFactory(policy_type="auto", premium_amount="900.00")
    pending = PolicyFactory(pending=True)
    client = api_as(underwriter)

    def ids(**query):
        page = PolicyPage.model_validate(client.get("/api/policies", query).json())
        return {str(p.id) for p in page.items}

    # then
    assert ids(policy_type="home") == {str(home.pk)}
    assert ids(customer_id=str(auto.customer_id)) == {str(auto.pk)}
    assert ids(status="pending") == {str(pending.pk)}
    assert ids(premium_min="800") == {str(auto.pk)}
    assert ids(premium_max=400) == {str(home.pk)}
    assert ids(active_on=timezone.now().isoformat().replace("+00:00", "Z")) == {str(home.pk), str(auto.pk)}
    assert_problem(client.get("/api/policies", {"policy_type": "boat"}), 422)


def test_patch_amends_and_runs_transitions(api_as, underwriter):
    # given
    policy = PolicyFactory()
    client = api_as(underwriter)
    # when
    amended = client.patch(f"/api/policies/{policy.pk}", {"premium_amount": 820.5})
    suspended = client.patch(f"/api/policies/{policy.pk}", {"status": "inactive", "reason": "Unpaid"})
    reinstated = client.patch(f"/api/policies/{policy.pk}", {"status": "active"})
    cancelled = client.patch(f"/api/policies/{policy.pk}", {"status": "cancelled", "reason": "Customer request"})
    # then
    assert amended.json()["premium_amount"] == "820.50"
    assert suspended.json()["status"] == "inactive"
    assert reinstated.json()["status"] == "active"
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancellation_reason"] == "Customer request"


def test_patch_with_an_illegal_transition_is_409_and_changes_nothing(api_as, underwriter):
    # given
    policy = PolicyFactory(cancelled=True)
    # when
    response = api_as(underwriter).patch(f"/api/policies/{policy.pk}", {"status": "active"})
    # then
    assert_problem(response, 409, "CONFLICT")
    policy.refresh_from_db()
    assert policy.status == "cancelled"


def test_patch_amendment_is_undone_when_the_transition_sent_with_it_is_refused(api_as, underwriter):
    # given
    policy = PolicyFactory(premium_amount="500.00")
    # when
    body = {"premium_amount": "600.00", "status": "pending"}
    response = api_as(underwriter).patch(f"/api/policies/{policy.pk}", body)
    # then
    assert_problem(response, 409)
    policy.refresh_from_db()
    assert str(policy.premium_amount) == "500.00"


def test_patch_with_a_stale_if_match_is_412(api_as, underwriter):
    policy = PolicyFactory()
    client = api_as(underwriter)
    etag = client.get(f"/api/policies/{policy.pk}")["ETag"]
    first = client.patch(f"/api/policies/{policy.pk}", {"premium_amount": "700"}, headers={"If-Match": etag})
    assert first.status_code == 200
    response = client.patch(f"/api/policies/{policy.pk}", {"premium_amount": "800"}, headers={"If-Match": etag})
    assert_problem(response, 412, "PRECONDITION_FAILED")


def test_a_caller_who_may_not_change_a_policy_hears_403_whatever_the_if_match(api_as, underwriter, customer_service):
    # given a policy and a stale ETag of it (the fuzzer's limited-role run found the 412 answered first)
    policy = PolicyFactory()
    client = api_as(underwriter)
    stale = client.get(f"/api/policies/{policy.pk}")["ETag"]
    assert (
        client.patch(f"/api/policies/{policy.pk}", {"premium_amount": "700"}, headers={"If-Match": stale}).status_code
        == 200
    )
    # when a clerk without the permission sends it
    response = api_as(customer_service).patch(
        f"/api/policies/{policy.pk}", {"premium_amount": "800"}, headers={"If-Match": stale}
    )
    # then the refusal is the permission's, and nothing changed
    assert_problem(response, 403)
    policy.refresh_from_db()
    assert policy.premium_amount == 700


def test_a_stale_if_match_undoes_an_update_that_would_succeed(api_as, underwriter):
    # given
    policy = PolicyFactory()
    client = api_as(underwriter)
    stale = client.get(f"/api/policies/{policy.pk}")["ETag"]
    client.patch(f"/api/policies/{policy.pk}", {"premium_amount": "700"}, headers={"If-Match": stale})
    events = PolicyEvent.objects.filter(policy=policy).count()
    audit, outbox = AuditEntry.objects.count(), OutboxMessage.objects.count()
    # when an amendment and a transition (which notifies) come with the stale tag
    response = client.patch(
        f"/api/policies/{policy.pk}",
        {"premium_amount": "900", "status": "inactive", "reason": "Unpaid premium"},
        headers={"If-Match": stale},
    )
    # then the 412, and neither the amendment nor its event was kept
    assert_problem(response, 412, "PRECONDITION_FAILED")
    policy.refresh_from_db()
    assert policy.premium_amount == 700 and PolicyEvent.objects.filter(policy=policy).count() == events
    # nor the transition, its audit entries or its notification (the update ran, and rolled back with the 412)
    assert policy.status == Policy.Status.ACTIVE
    assert AuditEntry.objects.count() == audit and OutboxMessage.objects.count() == outbox


def test_renew_creates_the_next_term(api_as, underwriter):
    # given
    policy = PolicyFactory()
    # when
    response = api_as(underwriter).post(f"/api/policies/{policy.pk}/renew")
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["renewal_of_id"] == str(policy.pk)
    assert body["start_date"].startswith(policy.end_date.isoformat()[:19])


def test_renew_without_a_body_past_the_last_year_is_a_400_naming_the_end_date(api_as, underwriter):
    # given a term whose default renewal would end after 2999 (found by the fuzzer's stateful phase)
    policy = PolicyFactory(
        start_date=dt.datetime(1900, 1, 1, tzinfo=dt.UTC), end_date=dt.datetime(2999, 12, 31, tzinfo=dt.UTC)
    )
    # when it is renewed with no body
    response = api_as(underwriter).post(f"/api/policies/{policy.pk}/renew")
    # then a business-rule problem about the stored term, not a validation error about a field not sent
    body = assert_problem(response, 400, "BUSINESS_RULE")
    assert "after the year 2999" in body["detail"]
    assert Policy.objects.filter(renewal_of=policy).count() == 0


def test_renew_of_a_cancelled_policy_is_409(api_as, underwriter):
    assert_problem(api_as(underwriter).post(f"/api/policies/{PolicyFactory(cancelled=True).pk}/renew"), 409)
