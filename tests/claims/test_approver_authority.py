"""The approver's own authority limit applies whoever the claim is assigned to (SPEC §2.1) — through the API's
PATCH and the admin's Approve button, the same rule as claims.services.claim_approve (tests/claims/test_services.py).
A mutation run found `authority_limit(claim.assigned_to or actor)` let through: every other approval test uses an
unassigned claim."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from claims.models import Claim, ClaimEvent
from tests import factories
from tests.api_client import Api, assert_problem

pytestmark = pytest.mark.django_db

S = Claim.Status


def _claim_assigned_to(assignee) -> Claim:
    # 50,000: beyond an adjuster's 10,000, within a manager's 100,000
    return factories.ClaimFactory(
        processing=True,
        assigned_to=assignee,
        claim_amount=Decimal("50000.00"),
        policy=factories.PolicyFactory(coverage_amount=Decimal("5000000.00")),
    )


def _approve_in_admin(client, actor, claim: Claim):
    client.force_login(actor)
    url = reverse("admin:claims_claim_transition", args=[claim.pk, "approve"])
    return client.post(url, {"apply": "yes", f"amount_{claim.pk}": "50000.00"})


def test_api_an_adjuster_cannot_approve_a_claim_assigned_to_a_manager_beyond_their_own_limit(adjuster, manager):
    # given
    claim = _claim_assigned_to(manager)
    # when
    response = Api(adjuster).patch(f"/api/claims/{claim.pk}", {"status": "approved"})
    # then
    assert "10,000.00" in assert_problem(response, 403, "FORBIDDEN")["detail"]
    claim.refresh_from_db()
    assert claim.status == S.PROCESSING and claim.approved_amount is None


def test_api_a_manager_approves_a_claim_assigned_to_an_adjuster_within_their_own_limit(adjuster, manager):
    # given
    claim = _claim_assigned_to(adjuster)
    # when
    response = Api(manager).patch(f"/api/claims/{claim.pk}", {"status": "approved"})
    # then
    assert response.status_code == 200, response.content[:500]
    assert (response.json()["status"], response.json()["approved_amount"]) == ("approved", "50000.00")


def test_admin_an_adjuster_cannot_approve_a_claim_assigned_to_a_manager_beyond_their_own_limit(
    client, adjuster, manager
):
    # given
    claim = _claim_assigned_to(manager)
    # when
    response = _approve_in_admin(client, adjuster, claim)
    # then
    # the approve form comes back with the amount typed and the rule that refused it
    assert response.status_code == 200 and 'value="50000.00"' in response.content.decode()
    assert "Approval of 50,000.00 EUR exceeds your authority limit of 10,000.00 EUR." in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == S.PROCESSING and not ClaimEvent.objects.filter(claim=claim).exists()


def test_admin_a_manager_approves_a_claim_assigned_to_an_adjuster_within_their_own_limit(client, adjuster, manager):
    # given
    claim = _claim_assigned_to(adjuster)
    # when
    response = _approve_in_admin(client, manager, claim)
    # then
    assert response.status_code == 302
    claim.refresh_from_db()
    assert (claim.status, claim.approved_amount, claim.decided_by) == (S.APPROVED, Decimal("50000.00"), manager)
