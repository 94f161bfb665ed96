"""The PATCH endpoints change a status only through claim_set_status/policy_set_status (issue 11): every move the
transition tables refuse is a 409 that writes nothing, a caller without a row's permission a 403, and the endpoint
itself only translates (one service call, no transaction or ORM read of its own)."""

from __future__ import annotations

import inspect

import pytest
from django.contrib.auth.models import Permission

from claims import api as claims_api
from claims import services as claim_services
from claims.models import Claim
from policies import api as policies_api
from policies import services as policy_services
from policies.models import Policy
from tests import factories
from tests.api_client import assert_problem
from vanguard.accounts.models import User

pytestmark = pytest.mark.django_db

CS, PS = Claim.Status, Policy.Status
CLAIMS, POLICIES = claim_services.CLAIM_TRANSITIONS, policy_services.POLICY_TRANSITIONS
CLAIM_TRAITS = {
    CS.PENDING: {},
    CS.PROCESSING: {"processing": True},
    CS.APPROVED: {"approved": True},
    CS.DENIED: {"denied": True},
    CS.PAID: {"paid": True},
    CS.CLOSED: {"closed": True},
}
POLICY_TRAITS = {
    PS.PENDING: {"pending": True},
    PS.ACTIVE: {"lapsed": True},
    PS.INACTIVE: {"inactive": True},
    PS.CANCELLED: {"cancelled": True},
    PS.EXPIRED: {"expired": True},
}


def _refused(table, statuses) -> list[tuple[str, str]]:
    return [
        (target, status)
        for target in statuses
        for status in statuses
        if status != target and not any(row.target == target and row.allows(status) for row in table)
    ]


def _without(table, permission: str, *also: str) -> User:
    user = factories.UserFactory()
    held = ({row.permission for row in table} | set(also)) - {permission}
    user.user_permissions.add(
        *(
            Permission.objects.get(content_type__app_label=perm.split(".")[0], codename=perm.split(".")[1])
            for perm in held
        )
    )
    return User.objects.get(pk=user.pk)


# The reason every transition accepts (and a denial or cancellation needs): a body the schema lets through.
def _claim_body(target: str) -> dict:
    return {"status": target, "decision_reason": "Because"}


def _policy_body(target: str) -> dict:
    return {"status": target, "reason": "Because"}


@pytest.mark.parametrize(("target", "status"), _refused(CLAIMS, CS.values))
def test_a_claim_move_no_row_allows_is_409_and_writes_nothing(api_as, superuser, target, status):
    # given: an edit sent with the refused move
    claim = factories.ClaimFactory(**CLAIM_TRAITS[status])
    # when
    response = api_as(superuser).patch(f"/api/claims/{claim.pk}", {**_claim_body(target), "assigned_to": None})
    # then
    assert_problem(response, 409, "CONFLICT")
    stored = Claim.objects.get(pk=claim.pk)
    assert (stored.status, stored.updated_at) == (claim.status, claim.updated_at) and not claim.events.exists()


@pytest.mark.parametrize("name", [row.name for row in CLAIMS if row.target])
def test_without_a_claim_rows_permission_the_patch_is_403(api_as, name):
    # given
    row = CLAIMS[name]
    claim = factories.ClaimFactory(**CLAIM_TRAITS[sorted(row.allowed_from)[0]])
    user = _without(CLAIMS, row.permission, "claims.view_claim", "claims.change_claim")
    # when
    response = api_as(user).patch(f"/api/claims/{claim.pk}", _claim_body(row.target))
    # then
    assert row.may in assert_problem(response, 403, "FORBIDDEN")["detail"]
    assert Claim.objects.get(pk=claim.pk).status == claim.status and not claim.events.exists()


@pytest.mark.parametrize(("target", "status"), _refused(POLICIES, PS.values))
def test_a_policy_move_no_row_allows_is_409_and_writes_nothing(api_as, superuser, target, status):
    # given: an amendment sent with the refused move
    policy = factories.PolicyFactory(**POLICY_TRAITS[status])
    # when
    response = api_as(superuser).patch(
        f"/api/policies/{policy.pk}", {**_policy_body(target), "end_date": "2099-01-01T00:00:00Z"}
    )
    # then
    assert_problem(response, 409, "CONFLICT")
    stored = Policy.objects.get(pk=policy.pk)
    assert (stored.status, stored.end_date, stored.updated_at) == (policy.status, policy.end_date, policy.updated_at)
    assert not policy.events.exists()


@pytest.mark.parametrize("name", [row.name for row in POLICIES if row.target])
def test_without_a_policy_rows_permission_the_patch_is_403(api_as, name):
    row = POLICIES[name]
    policy = factories.PolicyFactory(**POLICY_TRAITS[sorted(row.allowed_from)[0]])
    user = _without(POLICIES, row.permission, "policies.view_policy", "policies.change_policy")
    response = api_as(user).patch(f"/api/policies/{policy.pk}", _policy_body(row.target))
    assert row.may in assert_problem(response, 403, "FORBIDDEN")["detail"]
    assert Policy.objects.get(pk=policy.pk).status == policy.status and not policy.events.exists()


@pytest.mark.parametrize("endpoint", [claims_api.claim_update, policies_api.policy_update])
def test_the_patch_endpoints_only_translate(endpoint):
    # One service call inside the write helper; the transaction, the reads and the dispatch are the service's.
    source = inspect.getsource(endpoint)
    assert source.count("services.") == 1 and "guarded_update(" in source
    for composing in ("atomic", ".objects", "_transition", "Status", "if changes"):
        assert composing not in source, composing
