"""Demo staff: one user per role and a superuser, each with a generated development password.

A password is generated only when its user is created and returned to the caller to print once; it is
never stored anywhere but as the user's hash, never printed again and never logged.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password

from vanguard.accounts import roles
from vanguard.accounts.models import User
from vanguard.accounts.validators import SPECIALS

SUPERUSER_EMAIL = "admin@vanguard.local"


@dataclass(frozen=True)
class StaffSpec:
    email: str
    full_name: str
    role: str | None  # None: the superuser


DEMO_STAFF: tuple[StaffSpec, ...] = (
    StaffSpec(SUPERUSER_EMAIL, "Vanguard Administrator", None),
    StaffSpec("service@vanguard.local", "Sam Service", roles.CUSTOMER_SERVICE),
    StaffSpec("underwriter@vanguard.local", "Uma Underwriter", roles.UNDERWRITER),
    StaffSpec("adjuster@vanguard.local", "Adam Adjuster", roles.CLAIMS_ADJUSTER),
    StaffSpec("manager@vanguard.local", "Maria Manager", roles.CLAIMS_MANAGER),
    StaffSpec("compliance@vanguard.local", "Cora Compliance", roles.COMPLIANCE_OFFICER),
    StaffSpec("finance@vanguard.local", "Fiona Finance", roles.FINANCE),
)


def generate_password(length: int = 16) -> str:
    """A random password meeting the staff policy: 12+ characters, upper, lower, digit and one of !@#$%^&*."""
    alphabet = string.ascii_letters + string.digits
    while True:
        body = [secrets.choice(alphabet) for _ in range(length - 2)]
        body += [secrets.choice(SPECIALS), secrets.choice(string.digits)]
        secrets.SystemRandom().shuffle(body)
        password = "".join(body)
        if any(c.isupper() for c in password) and any(c.islower() for c in password):
            return password


def ensure_demo_staff(groups: dict[str, Group]) -> tuple[dict[str, User], dict[str, str]]:
    """Create the missing demo users (with their role group) and keep existing ones as they are.

    Returns every demo user by email, and the passwords of the users created by this call only.
    An existing user whose group was removed gets it back, so each demo login keeps its role.
    """
    users: dict[str, User] = {}
    created: dict[str, str] = {}
    for spec in DEMO_STAFF:
        user = User.objects.filter(email__iexact=spec.email).first()
        if user is None:
            password = generate_password()
            user = User(email=spec.email, full_name=spec.full_name, is_staff=True, is_superuser=spec.role is None)
            validate_password(password, user)
            user.set_password(password)
            user.full_clean(exclude=["password"])
            user.save()
            created[spec.email] = password
        if spec.role is not None and not user.groups.filter(pk=groups[spec.role].pk).exists():
            user.groups.add(groups[spec.role])
        users[spec.email] = user
    return users, created
