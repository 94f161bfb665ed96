"""Invalidate the API's cached principals (vanguard.accounts.auth) whenever what they hold changes:
the user row, their group memberships or direct permissions, a group's permissions, name or existence.

Also: simplejwt's outstanding-token rows never keep the token itself (see `outstanding_token_unstored`).
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from vanguard.accounts.models import User


def forget_changed(user_ids) -> None:
    """Drop now, and again once the change commits: a request running meanwhile still reads the old row and
    may cache it again, which would otherwise outlive the change (a deactivated user keeping access)."""
    from vanguard.accounts.auth import forget_principals

    ids = list(user_ids)
    forget_principals(ids)
    transaction.on_commit(lambda: forget_principals(ids))


def _users_of(groups=None, permission=None) -> list:
    condition = (
        Q(groups__in=groups)
        if groups is not None
        else Q(groups__permissions=permission) | Q(user_permissions=permission)
    )
    return list(User.objects.filter(condition).values_list("pk", flat=True).distinct())


def user_changed(sender, instance, **kwargs) -> None:
    forget_changed([instance.pk])


def user_links_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """user.groups / user.user_permissions, from either side."""
    if not reverse:
        if action.startswith("post_"):
            forget_changed([instance.pk])
    elif action in ("post_add", "post_remove"):
        forget_changed(pk_set or ())
    elif action == "pre_clear":
        forget_changed(instance.user_set.values_list("pk", flat=True))


def group_permissions_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """group.permissions, from either side."""
    if not reverse:
        if action.startswith("post_"):
            forget_changed(_users_of(groups=[instance.pk]))
    elif action in ("post_add", "post_remove"):
        forget_changed(_users_of(groups=list(pk_set or ())))
    elif action == "pre_clear":
        forget_changed(_users_of(groups=list(instance.group_set.values_list("pk", flat=True))))


def group_changed(sender, instance, **kwargs) -> None:
    forget_changed(_users_of(groups=[instance.pk]))


def permission_deleted(sender, instance, **kwargs) -> None:
    forget_changed(_users_of(permission=instance))


def outstanding_token_unstored(sender, instance, **kwargs) -> None:
    """simplejwt writes the whole refresh JWT into `OutstandingToken.token` (`RefreshToken.for_user`,
    `blacklist()`, `outstand()`), where a database copy could replay it. Revocation needs only the jti, user and
    expiry, and nothing reads `token` (simplejwt 5.5.1, pinned: on upgrade check that still holds), so it is
    blanked before every save; a CHECK constraint refuses any other write (accounts migration 0002)."""
    instance.token = ""


def connect() -> None:
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    pre_save.connect(outstanding_token_unstored, sender=OutstandingToken, dispatch_uid="vanguard.accounts.jwt.unstored")
    uid = "vanguard.accounts.principal"
    post_save.connect(user_changed, sender=User, dispatch_uid=f"{uid}.user.save")
    post_delete.connect(user_changed, sender=User, dispatch_uid=f"{uid}.user.delete")
    m2m_changed.connect(user_links_changed, sender=User.groups.through, dispatch_uid=f"{uid}.groups")
    m2m_changed.connect(user_links_changed, sender=User.user_permissions.through, dispatch_uid=f"{uid}.perms")
    m2m_changed.connect(group_permissions_changed, sender=Group.permissions.through, dispatch_uid=f"{uid}.gperms")
    post_save.connect(group_changed, sender=Group, dispatch_uid=f"{uid}.group.save")
    pre_delete.connect(group_changed, sender=Group, dispatch_uid=f"{uid}.group.delete")
    pre_delete.connect(permission_deleted, sender=Permission, dispatch_uid=f"{uid}.permission.delete")
