"""claims.services.CLAIM_TRANSITIONS is the single source of the claim transitions (issue 11): the services read
their permission and allowed-from set from it, claim_set_status picks its rows, the admin's buttons, actions and
permission checks are built from it."""

from __future__ import annotations

import dataclasses

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import reverse

from claims import services
from claims.models import Claim, ClaimEvent
from tests import factories
from tests.admin_support import messages_of, post_action
from vanguard.accounts.models import User
from vanguard.core.errors import NotPermitted, TransitionNotAllowed
from vanguard.core.transitions import TransitionTable

pytestmark = pytest.mark.django_db

S = Claim.Status
TABLE = services.CLAIM_TRANSITIONS
# An approved claim with its approved amount issued (`settled`): the rows out of approved all run from it,
# "Mark paid" included (SPEC §10.2 refuses it while indemnity is unpaid: test_financials_services.py).
TRAITS = {
    S.PENDING: {},
    S.PROCESSING: {"processing": True},
    S.APPROVED: {"settled": True},
    S.DENIED: {"denied": True},
    S.PAID: {"paid": True},
    S.CLOSED: {"closed": True},
}
INPUTS = {"deny": {"reason": "Not covered"}, "reopen": {"reason": "New evidence"}}  # what the forms would send
CLAIM_ADMIN = admin.site._registry[Claim]

# Every (row, status) a row's service must refuse: outside its allowed-from set, and not already its target.
OUTSIDE = [
    (row.name, status) for row in TABLE for status in S.values if not row.allows(status) and status != row.target
]
# Every (target, status) no row leads from: claim_set_status refuses it.
NO_ROW = [
    (target, status)
    for target in S.values
    for status in S.values
    if status != target and not any(row.target == target and row.allows(status) for row in TABLE)
]
# Every (target, status) some row leads from: claim_set_status runs that row's service.
SOME_ROW = [(row.target, status) for row in TABLE if row.target for status in sorted(row.allowed_from)]


def _claim_in(status: str) -> Claim:
    return factories.ClaimFactory(**TRAITS[status])


def _staff_with(*perms: str) -> User:
    user = factories.UserFactory()
    user.user_permissions.add(
        *(
            Permission.objects.get(content_type__app_label=perm.split(".")[0], codename=perm.split(".")[1])
            for perm in perms
        )
    )
    return User.objects.get(pk=user.pk)  # no permission cache


def _without(permission: str) -> User:
    """A claims handler holding every permission of the table (and the admin's view/change) but `permission`."""
    held = {row.permission for row in TABLE} | {"claims.view_claim", "claims.change_claim", "claims.assign_claim"}
    return _staff_with(*(held - {permission}))


def _request(user: User):
    request = RequestFactory().get("/admin/claims/claim/")
    request.user = user
    return request


def _unchanged(claim: Claim) -> bool:
    stored = Claim.objects.get(pk=claim.pk)
    return (stored.status, stored.updated_at) == (claim.status, claim.updated_at) and not claim.events.exists()


# --- the admin declares nothing of its own ------------------------------------------------------------------


def test_the_admin_transitions_are_the_table():
    assert CLAIM_ADMIN.transitions is TABLE
    assert CLAIM_ADMIN.actions == ()  # no action methods named beside the table
    assert [t.name for t in CLAIM_ADMIN.admin_transitions()] == [row.name for row in TABLE]


def test_the_changelist_actions_are_the_tables_rows(superuser):
    # when
    actions = CLAIM_ADMIN.get_actions(_request(superuser))
    # then: in the table's order, with its descriptions
    assert [(name, description) for name, (_, _, description) in actions.items()] == [
        (row.action, row.action_label) for row in TABLE if row.action
    ]


@pytest.mark.parametrize("status", S.values)
def test_the_buttons_on_a_claim_are_the_rows_allowed_from_its_status(superuser, status):
    # given
    claim = _claim_in(status)
    # when
    shown = [t["name"] for t in CLAIM_ADMIN.available_transitions(_request(superuser), claim)]
    # then
    assert shown == [row.name for row in TABLE if row.allows(status)]


@pytest.mark.parametrize("name", [row.name for row in TABLE])
def test_without_a_rows_permission_the_admin_offers_neither_its_button_nor_its_action(client, name):
    # given
    row = TABLE[name]
    user = _without(row.permission)
    claim = _claim_in(sorted(row.allowed_from)[0])
    client.force_login(user)
    # when
    page = client.get(reverse("admin:claims_claim_change", args=[claim.pk])).content.decode()
    button = client.post(
        reverse("admin:claims_claim_transition", args=[claim.pk, name]), {"apply": "yes", **INPUTS.get(name, {})}
    )
    action = post_action(
        client, reverse("admin:claims_claim_changelist"), row.action, [claim], apply="yes", **INPUTS.get(name, {})
    )
    # then
    assert reverse("admin:claims_claim_transition", args=[claim.pk, name]) not in page
    assert row.action not in CLAIM_ADMIN.get_actions(_request(user))
    assert button.status_code == 403
    assert "No action selected." in messages_of(action) and _unchanged(claim)


# --- the services read the table ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "status"), OUTSIDE)
def test_each_rows_service_refuses_a_status_outside_its_allowed_from_set(superuser, name, status):
    # given
    row = TABLE[name]
    claim = _claim_in(status)
    # when / then: 409, in the row's words
    with pytest.raises(TransitionNotAllowed) as refused:
        TABLE.run(name, actor=superuser, pk=claim.pk, **INPUTS.get(name, {}))
    assert refused.value.status_code == 409
    assert refused.value.message.endswith(f" {claim.get_status_display().lower()} claim cannot be {row.verb}.")
    assert _unchanged(claim)


@pytest.mark.parametrize(("target", "status"), NO_ROW)
def test_set_status_refuses_a_move_no_row_allows(superuser, target, status):
    # given
    claim = _claim_in(status)
    # when / then
    with pytest.raises(TransitionNotAllowed) as refused:
        services.claim_set_status(actor=superuser, claim_id=claim.pk, status=target, reason="Because")
    assert refused.value.status_code == 409
    assert _unchanged(claim)


@pytest.mark.parametrize(("target", "status"), SOME_ROW)
def test_set_status_runs_the_row_leading_from_the_current_status(manager, target, status):
    # given
    claim = _claim_in(status)
    row = TABLE.leading_to(target, current=status)
    # when
    result = services.claim_set_status(actor=manager, claim_id=claim.pk, status=target, reason="Because")
    # then
    assert result.status == target and row.allows(status)
    event = ClaimEvent.objects.get(claim=claim, kind=ClaimEvent.Kind.STATUS_CHANGED)
    assert (event.from_status, event.to_status, event.actor) == (status, target, manager)
    if row.name == "reopen":
        assert "previous_decision" in event.data  # reopened (its decision kept in the event), not started


@pytest.mark.parametrize("name", [row.name for row in TABLE if row.target])
def test_without_the_rows_permission_set_status_is_403(name):
    # given
    row = TABLE[name]
    claim = _claim_in(sorted(row.allowed_from)[0])
    # when / then
    with pytest.raises(NotPermitted) as refused:
        services.claim_set_status(
            actor=_without(row.permission), claim_id=claim.pk, status=row.target, reason="Because"
        )
    assert refused.value.status_code == 403 and row.may in refused.value.message
    assert _unchanged(claim)


def test_a_row_widened_in_the_table_is_allowed_by_its_service_and_by_set_status(monkeypatch, superuser):
    # given: "close" also allowed from approved, in the table only
    widened = TransitionTable(
        *(
            dataclasses.replace(row, allowed_from=row.allowed_from | {S.APPROVED}) if row.name == "close" else row
            for row in TABLE
        ),
        record_id=TABLE.record_id,
    )
    monkeypatch.setattr(services, "CLAIM_TRANSITIONS", widened)
    by_service, by_status = _claim_in(S.APPROVED), _claim_in(S.APPROVED)
    # when
    services.claim_close(actor=superuser, claim_id=by_service.pk)
    services.claim_set_status(actor=superuser, claim_id=by_status.pk, status=S.CLOSED)
    # then
    assert Claim.objects.get(pk=by_service.pk).status == Claim.objects.get(pk=by_status.pk).status == S.CLOSED


def test_claim_update_runs_every_part_in_one_transaction(manager):
    # given
    claim = _claim_in(S.PAID)
    # when: an edit sent with a refused transition
    with pytest.raises(TransitionNotAllowed):
        services.claim_update(
            actor=manager, claim_id=claim.pk, assignee_id=manager.pk, status=S.DENIED, decision_reason="Not covered"
        )
    # then: the assignment is undone with it (a paid claim is not reassigned either: checked on a live one)
    assert _unchanged(claim) and Claim.objects.get(pk=claim.pk).assigned_to_id is None
    live = _claim_in(S.PROCESSING)
    with pytest.raises(TransitionNotAllowed):
        services.claim_update(actor=manager, claim_id=live.pk, description="Edited", status=S.PAID)
    assert Claim.objects.get(pk=live.pk).description == live.description
    assert not live.events.exists()
