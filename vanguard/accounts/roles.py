"""Staff roles (SPEC §2.1) as Django groups with their permissions, created idempotently.

`bootstrap_roles()` runs after every `migrate` (post_migrate) and from `seed`; it adds missing
permissions and removes ones no longer granted, so a role is always exactly what this table says.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group, Permission

CUSTOMER_SERVICE = "Customer service"
UNDERWRITER = "Underwriter"
CLAIMS_ADJUSTER = "Claims adjuster"
CLAIMS_MANAGER = "Claims manager"
COMPLIANCE_OFFICER = "Compliance officer"
FINANCE = "Finance"

# Reading a claim's money (SPEC §10): its reserve changes, payments and recoveries.
_FINANCIALS_READ = {"claims.view_reservechange", "claims.view_claimpayment", "claims.view_claimrecovery"}

_ADJUSTER = {
    "customers.view_customer",
    "customers.view_pii",
    "policies.view_policy",
    "policies.view_policyevent",
    "claims.view_claim",
    "claims.add_claim",
    "claims.change_claim",
    "claims.process_claim",
    "claims.decide_claim",
    "claims.view_claimevent",
    "claims.view_claimdocument",
    "claims.add_claimdocument",
    # SPEC §10.3: set reserves, request payments, record recoveries.
    *_FINANCIALS_READ,
    "claims.add_reservechange",
    "claims.add_claimpayment",
    "claims.add_claimrecovery",
}

ROLE_PERMISSIONS: dict[str, set[str]] = {
    CUSTOMER_SERVICE: {
        "customers.view_customer",
        "customers.add_customer",
        "customers.change_customer",
        "customers.view_pii",
        "policies.view_policy",
        "policies.view_policyevent",
        "claims.view_claim",
        "claims.view_claimevent",
        "claims.view_claimdocument",
    },
    UNDERWRITER: {
        "customers.view_customer",
        "customers.view_pii",
        "policies.view_policy",
        "policies.add_policy",
        "policies.change_policy",
        "policies.transition_policy",
        "policies.view_policyevent",
    },
    CLAIMS_ADJUSTER: _ADJUSTER,
    # Managers run the office: they may also let a colleague back in before a sign-in lockout expires.
    CLAIMS_MANAGER: _ADJUSTER
    | {"claims.assign_claim", "claims.reopen_claim", "api_support.lift_lockout", "claims.approve_payment"},
    # SPEC §10.3: the money leaves and comes back here; no claim decisions, no approvals (four eyes).
    FINANCE: {
        "customers.view_customer",
        "customers.view_pii",
        "policies.view_policy",
        "policies.view_policyevent",
        "claims.view_claim",
        "claims.view_claimevent",
        "claims.view_claimdocument",
        *_FINANCIALS_READ,
        "claims.issue_payment",
        "claims.cancel_payment",
        "claims.void_payment",
        "claims.add_claimrecovery",
    },
    COMPLIANCE_OFFICER: {
        "customers.view_customer",
        "customers.view_pii",
        "customers.view_ssn",
        "customers.export_customer",
        "customers.erase_customer",
        "policies.view_policy",
        "policies.view_policyevent",
        "policies.audit_policy",
        "claims.view_claim",
        "claims.view_claimevent",
        "claims.view_claimdocument",
        *_FINANCIALS_READ,
        "claims.view_financialsverification",
        "compliance.view_auditentry",
        "compliance.view_piiaccesslog",
        "compliance.view_auditcheckpoint",
        "compliance.view_auditverification",
        "accounts.view_user",
        "auth.view_group",  # "reads everything": the roles themselves too
    },
}


def role_authority_limit(group_names: set[str] | list[str]) -> Decimal:
    """The highest default approval authority among a user's roles (0 without a claims role)."""
    limits = [settings.AUTHORITY_LIMITS[name] for name in group_names if name in settings.AUTHORITY_LIMITS]
    return max(limits, default=Decimal("0"))


def bootstrap_roles(verbosity: int = 0) -> dict[str, Group]:
    """Create or update every role group with exactly its permissions. Safe to run repeatedly."""
    wanted = {code for codes in ROLE_PERMISSIONS.values() for code in codes}
    by_code: dict[str, Permission] = {}
    for perm in Permission.objects.select_related("content_type").filter(
        content_type__app_label__in={code.split(".")[0] for code in wanted}
    ):
        by_code[f"{perm.content_type.app_label}.{perm.codename}"] = perm
    missing = wanted - by_code.keys()
    if missing:
        raise RuntimeError(f"Permissions missing (run migrate first): {sorted(missing)}")
    groups = {}
    for name, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set([by_code[code] for code in codes])
        groups[name] = group
        if verbosity:
            print(f"role {name}: {len(codes)} permissions")
    return groups


def bootstrap_roles_after_migrate(sender, app_config=None, using="default", plan=None, **kwargs) -> None:
    """post_migrate hook (registered for the accounts app, which migrates last of ours via dependencies).

    Runs only once every app's permissions exist, i.e. after a full `migrate`.
    """
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    for config in apps.get_app_configs():
        create_permissions(config, verbosity=0, using=using)
    bootstrap_roles()
