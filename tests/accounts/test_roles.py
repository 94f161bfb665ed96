"""Roles (SPEC §2.1): groups with exactly their permissions, created by migrate, idempotent; authority."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission

from tests import factories
from vanguard.accounts import roles
from vanguard.accounts.authority import authority_limit
from vanguard.accounts.models import system_actor
from vanguard.accounts.permissions import can, require
from vanguard.core.errors import NotPermitted

pytestmark = pytest.mark.django_db


def _snapshot() -> dict[str, set[str]]:
    return {
        group.name: {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        for group in Group.objects.prefetch_related("permissions__content_type")
    }


def test_migrate_created_every_role_with_its_permissions():
    # given: nothing but the migrated test database (post_migrate ran bootstrap_roles)
    # when
    snapshot = _snapshot()
    # then
    assert {name: snapshot.get(name) for name in roles.ROLE_PERMISSIONS} == roles.ROLE_PERMISSIONS


def test_bootstrap_twice_gives_the_same_groups_and_permissions():
    # given
    roles.bootstrap_roles()
    first, group_ids = _snapshot(), sorted(Group.objects.values_list("pk", flat=True))
    # when
    roles.bootstrap_roles()
    # then
    assert _snapshot() == first
    assert sorted(Group.objects.values_list("pk", flat=True)) == group_ids


def test_bootstrap_restores_a_tampered_role():
    # given: a permission granted by hand and one removed
    group = Group.objects.get(name=roles.CUSTOMER_SERVICE)
    group.permissions.add(Permission.objects.get(codename="delete_customer"))
    group.permissions.remove(Permission.objects.get(codename="add_customer"))
    # when
    roles.bootstrap_roles()
    # then
    assert _snapshot()[roles.CUSTOMER_SERVICE] == roles.ROLE_PERMISSIONS[roles.CUSTOMER_SERVICE]


@pytest.mark.parametrize(
    "role,perm,allowed",
    [
        (roles.CUSTOMER_SERVICE, "customers.change_customer", True),
        (roles.CUSTOMER_SERVICE, "customers.view_ssn", False),
        (roles.CUSTOMER_SERVICE, "policies.change_policy", False),
        (roles.UNDERWRITER, "policies.transition_policy", True),
        (roles.UNDERWRITER, "customers.change_customer", False),
        (roles.UNDERWRITER, "claims.add_claim", False),
        (roles.CLAIMS_ADJUSTER, "claims.decide_claim", True),
        (roles.CLAIMS_ADJUSTER, "claims.reopen_claim", False),
        (roles.CLAIMS_ADJUSTER, "claims.assign_claim", False),
        (roles.CLAIMS_ADJUSTER, "policies.change_policy", False),
        (roles.CLAIMS_MANAGER, "claims.reopen_claim", True),
        (roles.CLAIMS_MANAGER, "claims.assign_claim", True),
        (roles.COMPLIANCE_OFFICER, "customers.view_ssn", True),
        (roles.COMPLIANCE_OFFICER, "compliance.view_auditentry", True),
        (roles.COMPLIANCE_OFFICER, "policies.audit_policy", True),
        (roles.COMPLIANCE_OFFICER, "policies.change_policy", False),
        (roles.COMPLIANCE_OFFICER, "claims.change_claim", False),
    ],
)
def test_role_permissions(role, perm, allowed):
    # given
    user = factories.staff(role)
    # when / then
    assert can(user, perm) is allowed


@pytest.mark.parametrize("role", list(roles.ROLE_PERMISSIONS))
def test_every_staff_role_may_see_contact_pii(role):
    assert can(factories.staff(role), "customers.view_pii")


def test_require_raises_not_permitted_naming_the_action():
    # given
    user = factories.staff(roles.CUSTOMER_SERVICE)
    # when / then
    with pytest.raises(NotPermitted, match="approve claims") as exc:
        require(user, "claims.decide_claim", "approve claims")
    assert exc.value.status_code == 403


def test_nobody_and_inactive_users_may_do_nothing():
    # given
    inactive = factories.staff(roles.CLAIMS_MANAGER, is_active=False)
    # when / then
    assert not can(None, "claims.view_claim")
    assert not can(inactive, "claims.view_claim")


def test_the_system_actor_may_run_every_service():
    assert can(system_actor(), "policies.transition_policy")


@pytest.mark.parametrize(
    "role,expected",
    [
        (roles.CLAIMS_ADJUSTER, Decimal("10000.00")),
        (roles.CLAIMS_MANAGER, Decimal("100000.00")),
        (roles.UNDERWRITER, Decimal("0")),
    ],
)
def test_authority_default_per_role(role, expected):
    assert authority_limit(factories.staff(role)) == expected


def test_authority_user_override_and_superuser():
    # given
    overridden = factories.staff(roles.CLAIMS_MANAGER, authority_limit=Decimal("2500.00"))
    root = factories.UserFactory(superuser=True, authority_limit=Decimal("1.00"))
    # when / then
    assert authority_limit(overridden) == Decimal("2500.00")
    assert authority_limit(root) is None


def test_a_compliance_officer_reads_the_roles_in_the_admin(client):
    # given: the role "reads everything", the roles (groups) themselves included
    officer = factories.staff(roles.COMPLIANCE_OFFICER)
    client.force_login(officer)
    group = Group.objects.get(name=roles.CLAIMS_MANAGER)
    # when
    listing = client.get("/admin/auth/group/")
    page = client.get(f"/admin/auth/group/{group.pk}/change/")
    # then: read, never changed
    assert listing.status_code == 200 and roles.CLAIMS_MANAGER in listing.content.decode()
    assert page.status_code == 200 and 'type="submit"' not in page.content.decode().split('id="group_form"')[1]
    assert not officer.has_perm("auth.change_group")
