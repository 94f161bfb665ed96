"""Who can handle claims: the staff a claim may be assigned to (claims.services.claim_assign checks the same
permission, claims.process_claim) and how they are named in pickers."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.db.models import QuerySet

from vanguard.accounts.models import User

HANDLER_PERMISSION = "claims.process_claim"


def claims_handlers(queryset: QuerySet[User] | None = None) -> QuerySet[User]:
    """Active staff users holding claims.process_claim through a role, their own permissions or superuser
    status (Django's ModelBackend.with_perm), never the system actor."""
    queryset = User.objects.all() if queryset is None else queryset
    holders = ModelBackend().with_perm(HANDLER_PERMISSION, is_active=True, include_superusers=True)
    return queryset.filter(pk__in=holders.values("pk"), is_active=True, is_staff=True, is_system=False)


def handler_label(user: User) -> str:
    """ "Adam Adjuster (adjuster@vanguard.local)", or the e-mail alone when there is no name."""
    return f"{user.full_name} ({user.email})" if user.full_name else user.email
