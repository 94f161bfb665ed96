"""/api/claims and documents (SPEC §3, §2.4, §2.5)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from claims.financials import services as financials
from claims.models import Claim, ClaimDocument, ClaimEvent
from claims.schemas import ClaimPage, ClaimResponse, DocumentResponse
from tests import factories
from tests.api_client import assert_problem
from tests.factories import ClaimDocumentFactory, ClaimFactory, PolicyFactory, UserFactory
from vanguard.accounts import roles

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
PDF = b"%PDF-1.4\n" + b"0" * 200


def body_for(policy, **overrides):
    return {
        "policy_id": str(policy.pk),
        "claim_type": "accident",
        "claim_amount": 100.00,
        "incident_date": (timezone.now() - dt.timedelta(days=2)).isoformat(),
        **overrides,
    }


def test_create_returns_201_with_policy_and_documents(api_as, adjuster):
    # given
    policy = PolicyFactory()
    # when
    response = api_as(adjuster).post("/api/claims", body_for(policy, description="Hail"))
    # then
    assert response.status_code == 201, response.content
    body = ClaimResponse.model_validate(response.json())
    assert body.status == "pending"
    assert response.json()["claim_amount"] == "100.00"
    assert body.policy.id == policy.pk
    assert body.documents == []
    assert ClaimEvent.objects.filter(claim_id=body.id, kind="created", actor=adjuster).exists()


@pytest.mark.parametrize(
    ("make_policy", "overrides"),
    [
        (lambda: PolicyFactory(coverage_amount="500.00"), {"claim_amount": "500.01"}),
        (PolicyFactory, {"incident_date": "2001-01-01T00:00:00Z"}),
        (lambda: PolicyFactory(pending=True), {}),
        (lambda: PolicyFactory(cancelled=True), {}),
    ],
    ids=["over-coverage", "outside-term", "pending-policy", "cancelled-policy"],
)
def test_business_rule_violations_are_400(api_as, adjuster, make_policy, overrides):
    policy = make_policy()
    if "incident_date" not in overrides and policy.status == "pending":
        overrides = {"incident_date": (timezone.now() - dt.timedelta(days=1)).isoformat()}
    assert_problem(api_as(adjuster).post("/api/claims", body_for(policy, **overrides)), 400, "BUSINESS_RULE")
    assert not Claim.objects.exists()


def test_future_incident_is_422(api_as, adjuster):
    future = (timezone.now() + dt.timedelta(days=1)).isoformat()
    body = assert_problem(api_as(adjuster).post("/api/claims", body_for(PolicyFactory(), incident_date=future)), 422)
    assert "incident_date" in body["errors"]


def test_unknown_policy_is_404(api_as, adjuster):
    policy = PolicyFactory.build()
    policy.pk = uuid.uuid4()
    assert_problem(api_as(adjuster).post("/api/claims", body_for(policy)), 404)


def test_customer_service_cannot_file_claims(api_as, customer_service):
    assert_problem(api_as(customer_service).post("/api/claims", body_for(PolicyFactory())), 403)


def test_transitions_through_patch(api_as, manager):
    # given
    claim = ClaimFactory()
    client = api_as(manager)
    url = f"/api/claims/{claim.pk}"
    # when / then
    assert client.patch(url, {"status": "processing"}).json()["status"] == "processing"
    approved = client.patch(url, {"status": "approved", "approved_amount": "800.00"}).json()
    assert (approved["status"], approved["approved_amount"]) == ("approved", "800.00")
    # paid only once the approved amount has left (SPEC §10.2): by hand before that it is a 409 naming the balance
    unpaid = assert_problem(client.patch(url, {"status": "paid"}), 409, "CONFLICT")
    assert "800.00 EUR of the approved 800.00 EUR is unpaid" in unpaid["detail"]
    financials.claim_reserve_set(
        actor=manager, claim_id=claim.pk, cost_type="indemnity", amount=Decimal("800.00"), reason="Estimate"
    )
    payment = financials.payment_request(
        actor=manager,
        claim_id=claim.pk,
        cost_type="indemnity",
        amount=Decimal("800.00"),
        payee_name="Body shop",
        method="cheque",
    )
    financials.payment_issue(actor=factories.staff(roles.FINANCE), payment_id=payment.pk)
    assert client.patch(url, {"status": "paid"}).json()["status"] == "paid"
    assert client.patch(url, {"status": "closed"}).json()["status"] == "closed"
    reopened = client.patch(url, {"status": "processing", "decision_reason": "New evidence"}).json()
    assert reopened["status"] == "processing" and reopened["approved_amount"] is None
    denied = client.patch(url, {"status": "denied", "decision_reason": "Not covered"}).json()
    assert (denied["status"], denied["decision_reason"]) == ("denied", "Not covered")


def test_approval_defaults_to_the_full_amount(api_as, adjuster):
    claim = ClaimFactory(claim_amount="1234.56")
    assert api_as(adjuster).patch(f"/api/claims/{claim.pk}", {"status": "approved"}).json()["approved_amount"] == (
        "1234.56"
    )


def test_approval_above_authority_is_403_naming_the_limit(api_as, adjuster):
    # given
    claim = ClaimFactory(claim_amount="20000.00")
    # when
    response = api_as(adjuster).patch(f"/api/claims/{claim.pk}", {"status": "approved"})
    # then
    body = assert_problem(response, 403, "FORBIDDEN")
    assert "10,000.00" in body["detail"]
    claim.refresh_from_db()
    assert claim.status == "pending"


def test_illegal_transition_is_409_and_leaves_the_edit_undone(api_as, adjuster):
    # given
    claim = ClaimFactory(paid=True, description="before")
    # when
    response = api_as(adjuster).patch(f"/api/claims/{claim.pk}", {"status": "denied", "decision_reason": "x"})
    # then
    assert_problem(response, 409, "CONFLICT")
    claim.refresh_from_db()
    assert claim.status == "paid"


def test_deny_without_a_reason_is_422(api_as, adjuster):
    claim = ClaimFactory()
    assert_problem(api_as(adjuster).patch(f"/api/claims/{claim.pk}", {"status": "denied"}), 422)


def test_assign_and_describe(api_as, manager, adjuster):
    claim = ClaimFactory()
    body = (
        api_as(manager)
        .patch(f"/api/claims/{claim.pk}", {"assigned_to": str(adjuster.pk), "description": "Updated"})
        .json()
    )
    assert body["assigned_to"] == str(adjuster.pk) and body["description"] == "Updated"


def test_adjuster_cannot_assign_to_others(api_as, adjuster, manager):
    claim = ClaimFactory()
    assert_problem(api_as(adjuster).patch(f"/api/claims/{claim.pk}", {"assigned_to": str(manager.pk)}), 403)


def test_stale_if_match_is_412(api_as, adjuster):
    claim = ClaimFactory()
    client = api_as(adjuster)
    etag = client.get(f"/api/claims/{claim.pk}")["ETag"]
    first = client.patch(f"/api/claims/{claim.pk}", {"description": "one"}, headers={"If-Match": etag})
    assert first.status_code == 200
    assert_problem(client.patch(f"/api/claims/{claim.pk}", {"description": "two"}, headers={"If-Match": etag}), 412)
    claim.refresh_from_db()
    assert claim.description == "one"


def test_a_new_document_changes_the_claims_etag(api_as, adjuster):
    # given
    claim = ClaimFactory()
    client = api_as(adjuster)
    before = client.get(f"/api/claims/{claim.pk}")["ETag"]
    # when
    assert _upload(client, claim, PDF).status_code == 201
    # then: the detail (which lists documents) is a new version; a PATCH with the old tag is stale
    assert client.get(f"/api/claims/{claim.pk}")["ETag"] != before
    assert_problem(client.patch(f"/api/claims/{claim.pk}", {"description": "x"}, headers={"If-Match": before}), 412)


def test_decision_fields_without_a_status_are_422_and_change_nothing(api_as, manager):
    claim = ClaimFactory(processing=True)
    client = api_as(manager)
    for body in ({"approved_amount": "10.00"}, {"decision_reason": "why", "description": "changed"}):
        assert_problem(client.patch(f"/api/claims/{claim.pk}", body), 422, "VALIDATION_ERROR")
    claim.refresh_from_db()
    assert claim.status == "processing" and claim.approved_amount is None and claim.description != "changed"


def test_detail_includes_policy_and_documents(api_as, adjuster):
    document = ClaimDocumentFactory()
    body = api_as(adjuster).get(f"/api/claims/{document.claim_id}").json()
    assert body["policy"]["id"] == str(document.claim.policy_id)
    assert [d["id"] for d in body["documents"]] == [str(document.pk)]


def test_list_filters(api_as, adjuster, manager):
    # given
    mine = ClaimFactory(claim_type="fire", assigned_to=adjuster, incident_date=timezone.now() - dt.timedelta(days=3))
    other = ClaimFactory(approved=True)
    client = api_as(adjuster)

    def ids(**query):
        return {str(c.id) for c in ClaimPage.model_validate(client.get("/api/claims", query).json()).items}

    # then
    assert ids(policy_id=str(mine.policy_id)) == {str(mine.pk)}
    assert ids(customer_id=str(other.policy.customer_id)) == {str(other.pk)}
    assert ids(status="approved") == {str(other.pk)}
    assert ids(claim_type="fire") == {str(mine.pk)}
    assert ids(assigned_to=str(adjuster.pk)) == {str(mine.pk)}
    assert ids(incident_before=(timezone.now() - dt.timedelta(days=2)).isoformat().replace("+00:00", "Z")) == {
        str(mine.pk)
    }
    assert ids(incident_after=(timezone.now() - dt.timedelta(days=2)).isoformat().replace("+00:00", "Z")) == {
        str(other.pk)
    }


def _upload(client, claim, content, name="photo.png", **kw):
    return client.call(
        "POST",
        f"/api/claims/{claim.pk}/documents",
        {"file": SimpleUploadedFile(name, content), "document_type": "photo"},
        content_type="multipart/form-data",
        **kw,
    )


def test_upload_sniffs_the_type_and_download_streams_it(api_as, adjuster, customer_service):
    # given
    claim = ClaimFactory()
    # when
    response = _upload(api_as(adjuster), claim, PDF, name="looks-like.png")
    # then
    assert response.status_code == 201, response.content
    document = DocumentResponse.model_validate(response.json())
    assert document.mime_type == "application/pdf"
    download = api_as(customer_service).get(document.download_url)
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content) == PDF


def test_upload_of_a_type_not_allowed_is_400(api_as, adjuster):
    response = _upload(api_as(adjuster), ClaimFactory(), b"MZ\x90\x00" + b"\x00" * 100, name="evil.pdf")
    body = assert_problem(response, 400, "BUSINESS_RULE")
    assert "not allowed" in body["detail"]
    assert not ClaimDocument.objects.exists()


def test_upload_over_the_size_limit_is_400_naming_it(api_as, adjuster, settings):
    settings.DOCUMENT_MAX_BYTES = 2 * 1024 * 1024
    body = assert_problem(_upload(api_as(adjuster), ClaimFactory(), PNG + b"\x00" * (2 * 1024 * 1024)), 400)
    assert "2 MB" in body["detail"]
    assert not ClaimDocument.objects.exists()


def test_upload_without_a_file_is_422(api_as, adjuster):
    claim = ClaimFactory()
    response = api_as(adjuster).call(
        "POST", f"/api/claims/{claim.pk}/documents", {"document_type": "photo"}, content_type="multipart/form-data"
    )
    assert_problem(response, 422)


def test_upload_without_permission_is_403(api_as, customer_service):
    assert_problem(_upload(api_as(customer_service), ClaimFactory(), PNG), 403)


def test_download_needs_the_document_permission(api_as, underwriter):
    document = ClaimDocumentFactory()
    assert_problem(api_as(underwriter).get(f"/api/claims/{document.claim_id}/documents/{document.pk}"), 403)


def test_download_of_a_document_of_another_claim_is_404(api_as, adjuster):
    document = ClaimDocumentFactory()
    other = ClaimFactory()
    assert_problem(api_as(adjuster).get(f"/api/claims/{other.pk}/documents/{document.pk}"), 404)


def test_staff_without_claim_permissions_get_403_on_lists(api_as):
    assert_problem(api_as(UserFactory()).get("/api/claims"), 403)


@pytest.mark.parametrize("status", ["denied", "closed"])
def test_an_adjuster_cannot_reopen_through_patch(api_as, adjuster, status):
    # Reopening is for managers (SPEC §4): the API refuses it like the service and the admin do.
    claim = ClaimFactory(**{status: True})
    response = api_as(adjuster).patch(f"/api/claims/{claim.pk}", {"status": "processing", "decision_reason": "Appeal"})
    assert_problem(response, 403)
    claim.refresh_from_db()
    assert claim.status == status
