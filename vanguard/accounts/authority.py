"""Approval authority (SPEC §2.1): a per-user override, else the highest default among the user's roles."""

from __future__ import annotations

from decimal import Decimal

from vanguard.accounts.roles import role_authority_limit

UNLIMITED = None


def authority_limit(user) -> Decimal | None:
    """The most this user may approve on one claim; None means unlimited (superusers)."""
    if user.is_superuser:
        return UNLIMITED
    if user.authority_limit is not None:
        return user.authority_limit
    cached = getattr(user, "_group_names_cache", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._group_names_cache = cached
    return role_authority_limit(cached)
