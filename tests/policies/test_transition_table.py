"""policies.services.POLICY_TRANSITIONS is the single source of the policy transitions (issue 11): the services read
their permission and allowed-from set from it, policy_set_status picks its rows, the admin's buttons, actions and
permission checks are built from it."""

from __future__ import annotations

import dataclasses

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import reverse

from policies import services
from policies.models import Policy, PolicyEvent
from tests import factories
from tests.admin_support import messages_of, post_action
from vanguard.accounts.models import User
from vanguard.core.errors import NotPermitted, TransitionNotAllowed
from vanguard.core.transitions import TransitionTable

pytestmark = pytest.mark.django_db

S = Policy.Status
TABLE = services.POLICY_TRANSITIONS
TRAITS = {
    S.PENDING: {"pending": True},
    S.ACTIVE: {"lapsed": True},
    S.INACTIVE: {"inactive": True},
    S.CANCELLED: {"cancelled": True},
    S.EXPIRED: {"expired": True},
}  # active: due to expire, so all may run
INPUTS = {"cancel": {"reason": "Customer request"}, "audit": {"outcome": "compliant"}}
POLICY_ADMIN = admin.site._registry[Policy]

OUTSIDE = [
    (row.name, status) for row in TABLE for status in S.values if not row.allows(status) and status != row.target
]
NO_ROW = [
    (target, status)
    for target in S.values
    for status in S.values
    if status != target and not any(row.target == target and row.allows(status) for row in TABLE)
]
SOME_ROW = [(row.target, status) for row in TABLE if row.target for status in sorted(row.allowed_from)]


def _policy_in(status: str) -> Policy:
    return factories.PolicyFactory(**TRAITS[status])


def _without(permission: str) -> User:
    held = {row.permission for row in TABLE} | {"policies.view_policy", "policies.change_policy"}
    user = factories.UserFactory()
    user.user_permissions.add(
        *(
            Permission.objects.get(content_type__app_label=perm.split(".")[0], codename=perm.split(".")[1])
            for perm in held - {permission}
        )
    )
    return User.objects.get(pk=user.pk)


def _request(user: User):
    request = RequestFactory().get("/admin/policies/policy/")
    request.user = user
    return request


def _unchanged(policy: Policy) -> bool:
    stored = Policy.objects.get(pk=policy.pk)
    return (stored.status, stored.updated_at) == (policy.status, policy.updated_at) and not policy.events.exists()


# --- the admin declares nothing of its own ------------------------------------------------------------------


def test_the_admin_transitions_are_the_tables_rows_with_a_label():
    assert POLICY_ADMIN.transitions is TABLE
    assert POLICY_ADMIN.actions == ()
    # the expiry is the daily job's and the API's: a row without a label, not offered in the back office
    assert [t.name for t in POLICY_ADMIN.admin_transitions()] == [row.name for row in TABLE if row.label]
    assert "expire" not in [t.name for t in POLICY_ADMIN.admin_transitions()]


def test_the_changelist_actions_are_the_tables_rows(superuser):
    actions = POLICY_ADMIN.get_actions(_request(superuser))
    assert [(name, description) for name, (_, _, description) in actions.items()] == [
        (row.action, row.action_label) for row in TABLE if row.action
    ]


@pytest.mark.parametrize("status", S.values)
def test_the_buttons_on_a_policy_are_the_rows_allowed_from_its_status(superuser, status):
    policy = _policy_in(status)
    shown = [t["name"] for t in POLICY_ADMIN.available_transitions(_request(superuser), policy)]
    assert shown == [row.name for row in TABLE if row.label and row.allows(status)]


@pytest.mark.parametrize("name", [row.name for row in TABLE if row.label])
def test_without_a_rows_permission_the_admin_offers_neither_its_button_nor_its_action(client, name):
    # given
    row = TABLE[name]
    user = _without(row.permission)
    policy = _policy_in(sorted(row.allowed_from)[0] if row.allowed_from else S.ACTIVE)
    client.force_login(user)
    # when
    page = client.get(reverse("admin:policies_policy_change", args=[policy.pk])).content.decode()
    button = client.post(
        reverse("admin:policies_policy_transition", args=[policy.pk, name]), {"apply": "yes", **INPUTS.get(name, {})}
    )
    action = post_action(
        client, reverse("admin:policies_policy_changelist"), row.action, [policy], apply="yes", **INPUTS.get(name, {})
    )
    # then
    assert reverse("admin:policies_policy_transition", args=[policy.pk, name]) not in page
    assert row.action not in POLICY_ADMIN.get_actions(_request(user))
    assert button.status_code == 403
    assert "No action selected." in messages_of(action) and _unchanged(policy)


# --- the services read the table ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "status"), OUTSIDE)
def test_each_rows_service_refuses_a_status_outside_its_allowed_from_set(superuser, name, status):
    # given
    row = TABLE[name]
    policy = _policy_in(status)
    # when / then
    with pytest.raises(TransitionNotAllowed) as refused:
        TABLE.run(name, actor=superuser, pk=policy.pk, **INPUTS.get(name, {}))
    assert refused.value.status_code == 409
    assert refused.value.message.endswith(f" {policy.get_status_display().lower()} policy cannot be {row.verb}.")
    assert _unchanged(policy)


@pytest.mark.parametrize(("target", "status"), NO_ROW)
def test_set_status_refuses_a_move_no_row_allows(superuser, target, status):
    policy = _policy_in(status)
    with pytest.raises(TransitionNotAllowed) as refused:
        services.policy_set_status(actor=superuser, policy_id=policy.pk, status=target, reason="Because")
    assert refused.value.status_code == 409
    assert _unchanged(policy)


@pytest.mark.parametrize(("target", "status"), SOME_ROW)
def test_set_status_runs_the_row_leading_from_the_current_status(underwriter, target, status):
    # given
    policy = _policy_in(status)
    row = TABLE.leading_to(target, current=status)
    # when
    result = services.policy_set_status(actor=underwriter, policy_id=policy.pk, status=target, reason="Because")
    # then: the row's own event (active from inactive is a reinstatement, not an issue)
    assert result.status == target and row.allows(status)
    event = PolicyEvent.objects.get(policy=policy)
    assert (event.kind, event.from_status, event.to_status, event.actor) == (
        {
            "issue": "issued",
            "suspend": "suspended",
            "reinstate": "reinstated",
            "cancel": "cancelled",
            "expire": "expired",
        }[row.name],
        status,
        target,
        underwriter,
    )


@pytest.mark.parametrize("name", [row.name for row in TABLE if row.target])
def test_without_the_rows_permission_set_status_is_403(name):
    row = TABLE[name]
    policy = _policy_in(sorted(row.allowed_from)[0])
    with pytest.raises(NotPermitted) as refused:
        services.policy_set_status(
            actor=_without(row.permission), policy_id=policy.pk, status=row.target, reason="Because"
        )
    assert refused.value.status_code == 403 and row.may in refused.value.message
    assert _unchanged(policy)


def test_a_policy_already_in_the_status_is_returned_unchanged_whoever_asks(compliance_officer):
    # As the API always answered: asking for the status a policy has is no transition, and needs no permission.
    policy = _policy_in(S.INACTIVE)
    assert services.policy_set_status(actor=compliance_officer, policy_id=policy.pk, status=S.INACTIVE).pk == policy.pk
    assert _unchanged(policy)


def test_a_row_widened_in_the_table_is_allowed_by_its_service_and_by_set_status(monkeypatch, underwriter):
    # given: "suspend" also allowed from pending, in the table only
    widened = TransitionTable(
        *(
            dataclasses.replace(row, allowed_from=row.allowed_from | {S.PENDING}) if row.name == "suspend" else row
            for row in TABLE
        ),
        record_id=TABLE.record_id,
    )
    monkeypatch.setattr(services, "POLICY_TRANSITIONS", widened)
    by_service, by_status = _policy_in(S.PENDING), _policy_in(S.PENDING)
    # when
    services.policy_suspend(actor=underwriter, policy_id=by_service.pk)
    services.policy_set_status(actor=underwriter, policy_id=by_status.pk, status=S.INACTIVE)
    # then
    assert Policy.objects.get(pk=by_service.pk).status == Policy.objects.get(pk=by_status.pk).status == S.INACTIVE


def test_policy_update_undoes_the_amendments_of_a_refused_transition(underwriter):
    policy = _policy_in(S.INACTIVE)
    with pytest.raises(TransitionNotAllowed):
        services.policy_update(
            actor=underwriter, policy_id=policy.pk, end_date=policy.end_date.replace(year=2099), status=S.EXPIRED
        )
    assert Policy.objects.get(pk=policy.pk).end_date == policy.end_date and _unchanged(policy)
