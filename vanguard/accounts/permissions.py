"""One permission model for the admin, the API and the services (SPEC §2.1)."""

from __future__ import annotations

from collections.abc import Iterable

from vanguard.core.errors import NotPermitted


def can(actor, perm: str) -> bool:
    """True when `actor` holds `perm`; the system actor of scheduled jobs may run every service."""
    if actor is None:
        return False
    if getattr(actor, "is_system", False):
        return True
    return actor.has_perm(perm)


def require(actor, perm: str, action: str) -> None:
    if not can(actor, perm):
        raise NotPermitted(f"You do not have permission to {action}.")


def require_any(actor, perms: Iterable[str], action: str) -> None:
    """Refuse (403) an actor who holds none of `perms`: the door of an operation made of parts that each need
    their own permission (a PATCH that may amend, assign or change the status)."""
    if not any(can(actor, perm) for perm in perms):
        raise NotPermitted(f"You do not have permission to {action}.")
