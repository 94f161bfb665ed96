"""Staff role and permission changes are on the audit trail (SPEC §7.1), with their actor, and chained."""

from __future__ import annotations

import pytest
from auditlog.context import set_actor
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from compliance import chain
from compliance.models import AuditEntry
from tests import factories
from vanguard.accounts import roles
from vanguard.accounts.models import User

pytestmark = pytest.mark.django_db


def _membership_entries(user: User) -> list[AuditEntry]:
    chain.seal_pending()  # as after the commit: the order is the chain's
    return [
        entry
        for entry in AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(User),
            object_pk=str(user.pk),
        ).order_by("seq")
        if any(isinstance(change, dict) and change.get("type") == "m2m" for change in entry.changes.values())
    ]


def test_role_changes_are_audited_with_their_actor(superuser):
    # given
    groups = roles.bootstrap_roles()
    user = factories.UserFactory()

    # when
    with set_actor(superuser, remote_addr="10.0.0.5"):
        user.groups.add(groups[roles.UNDERWRITER])
        user.groups.set([groups[roles.CLAIMS_MANAGER]])
        user.groups.remove(groups[roles.CLAIMS_MANAGER])

    # then
    entries = _membership_entries(user)
    assert [entry.changes for entry in entries] == [
        {"groups": {"type": "m2m", "operation": "add", "objects": [roles.UNDERWRITER]}},
        {"groups": {"type": "m2m", "operation": "delete", "objects": [roles.UNDERWRITER]}},
        {"groups": {"type": "m2m", "operation": "add", "objects": [roles.CLAIMS_MANAGER]}},
        {"groups": {"type": "m2m", "operation": "delete", "objects": [roles.CLAIMS_MANAGER]}},
    ]
    assert {(entry.actor, entry.remote_addr) for entry in entries} == {(superuser, "10.0.0.5")}
    assert {entry.action for entry in entries} == {AuditEntry.Action.UPDATE}
    report = chain.verify_chain()
    assert report.ok, report.first_break


def test_direct_permission_grants_are_audited(superuser):
    # given
    user = factories.UserFactory()
    permission = Permission.objects.get(codename="view_ssn")

    # when
    with set_actor(superuser):
        user.user_permissions.add(permission)
        user.user_permissions.remove(permission)

    # then
    entries = _membership_entries(user)
    assert [
        (e.changes["user_permissions"]["operation"], e.changes["user_permissions"]["objects"]) for e in entries
    ] == [("add", [str(permission)]), ("delete", [str(permission)])]
    assert {entry.actor for entry in entries} == {superuser}
    assert chain.verify_chain().ok


def test_clearing_roles_records_only_the_roles_the_user_had(superuser):
    # given: several roles exist, the user holds one
    roles.bootstrap_roles()
    user = factories.staff(roles.CLAIMS_ADJUSTER)
    assert Group.objects.count() > 1

    # when
    with set_actor(superuser):
        user.groups.clear()
        user.groups.clear()  # nothing left: nothing to record

    # then
    *_, entry = _membership_entries(user)
    assert entry.changes == {"groups": {"type": "m2m", "operation": "delete", "objects": [roles.CLAIMS_ADJUSTER]}}
    assert entry.actor == superuser
    assert len(_membership_entries(user)) == 2  # the grant by the factory and the one removal
    assert chain.verify_chain().ok


def test_removing_members_from_a_role_is_audited_too(superuser):
    # given: the change made from the group's side
    group = roles.bootstrap_roles()[roles.UNDERWRITER]
    user = factories.staff(roles.UNDERWRITER)

    # when
    with set_actor(superuser):
        group.user_set.clear()

    # then: sealed first, as after the commit (an unsealed entry has no seq, and NULL sorts first descending)
    chain.seal_pending()
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry.changes == {"groups": {"type": "m2m", "operation": "delete", "objects": [str(user)]}}
    assert (entry.object_repr, entry.actor) == (str(group), superuser)
    assert chain.verify_chain().ok
