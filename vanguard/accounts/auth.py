"""JWT for the API (SPEC §6): simplejwt's token classes and blacklist app, HS256 with JWT_SIGNING_KEY.

Claims: `sub` (user id), `email`, `type` ("access" | "refresh"), `exp`, `iat`, `jti`. Access tokens live
30 minutes, refresh tokens 7 days; a refresh rotates the refresh token and blacklists the old one, so a
second use of a rotated token is refused (401).

The blacklist app's `OutstandingToken` rows hold only what revocation needs — `jti`, user, expiry — never the
token itself (blanked before every save, and refused by a CHECK constraint: signals.py, migration 0002), so a
copy of the database holds nothing that can be replayed. `flush_expired_tokens` drops expired rows hourly.

`JWTBearer` is the ninja auth class of every protected endpoint. It validates the access token, loads the
user and every permission the request may check, counts the request against the caller's rate limit, and
names the caller as the audit actor of the request.

The loaded user (the *principal*: its fields except the password hash, groups and permission codes) is cached
under `vanguard:principal:<id>` for PRINCIPAL_CACHE_SECONDS, so a request costs one Redis GET instead of a
permissions query.

Revocation (decided for issue 12, item 6): the request does *not* re-check `is_active` in the database (that
would put a query back on every request); instead every ORM way of changing what a principal holds drops it
at once, and again when the change commits (so a request racing the change cannot re-cache the old row):
- `save()`/`delete()` of a user (admin, services, commands), group membership and direct permissions from
  either side, a group's permissions, name or deletion, a permission's deletion: signals (signals.py);
- `User.objects....update(...)`, `bulk_update` and related-manager `update` (e.g. `group.user_set.update`),
  which send no signal: `UserQuerySet.update` (models.py) lists the rows it changes and drops theirs.
Only changes made behind the ORM's back — raw SQL, `Group.objects.update(...)`, bulk writes to the
user-group/permission link tables — wait for PRINCIPAL_CACHE_SECONDS (default 5 minutes); after such a change
call `forget_principals(ids)` (or empty the `vanguard:principal:*` keys).
"""

from __future__ import annotations

import functools
import time
from typing import Any
from uuid import UUID

import orjson
from asgiref.sync import sync_to_async
from auditlog.context import auditlog_value
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.models import F, OuterRef, Value
from django.db.models.functions import Concat
from ninja.security import HttpBearer
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from vanguard import kv
from vanguard.accounts.models import User
from vanguard.api_support import ratelimit
from vanguard.core.net import client_ip
from vanguard.core.request_context import user_id_var


class InvalidToken(Exception):
    """A missing, malformed, tampered, expired, wrong-type or revoked token: 401."""


def _issue(user: User) -> dict[str, Any]:
    refresh = RefreshToken.for_user(user)  # records the OutstandingToken row
    refresh["email"] = user.email
    access = refresh.access_token  # copies sub and email, gets its own type, jti and exp
    return {
        "access_token": str(access),
        "refresh_token": str(refresh),
        "token_type": "bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }


def tokens_issue(*, user: User) -> dict[str, Any]:
    """A fresh access/refresh pair for a user who just proved their credentials."""
    return _issue(user)


def _active_user(user_id: Any) -> User | None:
    try:
        return User.objects.filter(pk=UUID(str(user_id)), is_active=True, is_staff=True, is_system=False).first()
    except (TypeError, ValueError):
        return None


@transaction.atomic
def tokens_refresh(*, refresh_token: str) -> dict[str, Any]:
    """Rotate a refresh token: blacklist it and issue a new pair. Reuse of a rotated token is a 401.

    Locks the outstanding-token row so two concurrent refreshes with the same token cannot both win.
    """
    try:
        old = RefreshToken(refresh_token)  # signature, exp, type and blacklist
    except TokenError as exc:
        raise InvalidToken(str(exc)) from exc
    outstanding = OutstandingToken.objects.select_for_update(of=("self",)).filter(jti=old["jti"]).first()
    if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
        raise InvalidToken("Token is blacklisted")
    BlacklistedToken.objects.create(token=outstanding)
    user = _active_user(old.get("sub"))
    if user is None:
        raise InvalidToken("User is inactive")
    return _issue(user)


@transaction.atomic
def tokens_revoke(*, refresh_token: str, user: User) -> None:
    """Log out: blacklist the caller's refresh token (idempotent). Someone else's token is refused."""
    try:
        token = RefreshToken(refresh_token, verify=False)
        token.check_exp()
        token.verify_token_type()
    except TokenError as exc:
        raise InvalidToken(str(exc)) from exc
    if str(token.get("sub")) != str(user.pk):
        raise InvalidToken("Token belongs to another user")
    token.blacklist()


def _permission_codes(**filters):
    return (
        Permission.objects.filter(**filters)
        .annotate(code=Concat(F("content_type__app_label"), Value("."), F("codename")))
        .values("code")
    )


def load_user(user_id: Any) -> User | None:
    """The active staff user with their group names and permissions cached on the instance.

    On PostgreSQL this is one query (array subqueries); elsewhere a few. Either way `has_perm` and
    `authority_limit` then answer without touching the database, which async code needs.
    """
    try:
        pk = UUID(str(user_id))
    except (TypeError, ValueError):
        return None
    qs = User.objects.filter(pk=pk, is_active=True, is_staff=True, is_system=False)
    if connection.vendor == "postgresql":
        from django.contrib.postgres.expressions import ArraySubquery

        user = qs.annotate(
            _user_perms=ArraySubquery(_permission_codes(user=OuterRef("pk"))),
            _group_perms=ArraySubquery(_permission_codes(group__user=OuterRef("pk"))),
            _groups=ArraySubquery(Group.objects.filter(user=OuterRef("pk")).values("name")),
        ).first()
        if user is None:
            return None
        user_perms, group_perms, groups = set(user._user_perms), set(user._group_perms), set(user._groups)
    else:
        user = qs.first()
        if user is None:
            return None
        user_perms = set(_permission_codes(user=user).values_list("code", flat=True))
        group_perms = set(_permission_codes(group__user=user).values_list("code", flat=True))
        groups = set(user.groups.values_list("name", flat=True))
    # The attributes ModelBackend and authority_limit() read before they would query.
    user._user_perm_cache, user._group_perm_cache = user_perms, group_perms
    user._perm_cache = user_perms | group_perms
    user._group_names_cache = groups
    return user


def decode_access(raw: str) -> AccessToken:
    try:
        return AccessToken(raw)  # signature, exp and type == "access"
    except TokenError as exc:
        raise InvalidToken(str(exc)) from exc


# Access tokens this process has verified, by their exact text (and the key they were verified with): a client
# sends the same token with every request for its 30 minutes, and checking its signature and claims again costs
# about 40 µs of the event loop's time per request (0.2 µs remembered; measured, issue 13) for an answer that
# cannot change, as access tokens are never revoked one by one (a deactivated user's tokens fail at the
# principal). Only a token that passed every check is kept, with its expiry, which is checked again on each use.
# Bounded: the least recently used fall out.
VERIFIED_ACCESS_TOKENS = 4096


@functools.lru_cache(maxsize=VERIFIED_ACCESS_TOKENS)
def _verified_access(raw: str, key: str) -> tuple[Any, float]:
    token = decode_access(raw)  # an InvalidToken is raised, never cached
    # Expired once `exp` is at or before now minus the leeway (simplejwt's Token.check_exp).
    return token.get("sub"), float(token["exp"]) + token.get_token_backend().get_leeway().total_seconds()


def _now() -> float:
    return time.time()


def access_subject(raw: str) -> Any | None:
    """The `sub` of a valid, unexpired access token; None for anything else."""
    try:
        sub, expires = _verified_access(raw, jwt_settings.SIGNING_KEY)
    except InvalidToken:
        return None
    return None if expires <= _now() else sub


_aload_user = sync_to_async(load_user)


def principal_key(user_id: Any) -> str:
    return f"vanguard:principal:{user_id}"


def _principal_fields() -> list:
    return [f for f in User._meta.concrete_fields if f.attname != "password"]


def _dump_principal(user: User) -> bytes:
    values = [None if f.value_from_object(user) is None else f.value_to_string(user) for f in _principal_fields()]
    return orjson.dumps(
        {
            "v": values,
            "up": sorted(user._user_perm_cache),
            "gp": sorted(user._group_perm_cache),
            "g": sorted(user._group_names_cache),
        }
    )


def _load_principal(raw: bytes) -> User:
    data = orjson.loads(raw)
    fields = _principal_fields()
    values = [None if v is None else f.to_python(v) for f, v in zip(fields, data["v"], strict=True)]
    # Concrete-field order, password deferred: reading it would query (it is never needed for a token).
    user = User.from_db(DEFAULT_DB_ALIAS, [f.attname for f in fields], values)
    user._user_perm_cache, user._group_perm_cache = set(data["up"]), set(data["gp"])
    user._perm_cache = user._user_perm_cache | user._group_perm_cache
    user._group_names_cache = set(data["g"])
    return user


def _user_pk(user_id: Any) -> UUID | None:
    try:
        return UUID(str(user_id))
    except (TypeError, ValueError):
        return None


async def _aprincipal_from(pk: UUID, raw: bytes | None) -> User | None:
    """The principal cached as `raw`, or (on a miss) loaded from the database and cached."""
    if raw is not None:
        return _load_principal(raw)
    user = await _aload_user(pk)
    if user is not None:
        await kv.aset(principal_key(pk), _dump_principal(user), ttl=settings.PRINCIPAL_CACHE_SECONDS)
    return user


async def aprincipal(user_id: Any) -> User | None:
    """The active staff user of a token's `sub`, from the principal cache or (once) the database."""
    pk = _user_pk(user_id)
    if pk is None:
        return None
    return await _aprincipal_from(pk, await kv.aget(principal_key(pk)))


def forget_principals(user_ids) -> None:
    """Drop cached principals (after a change to the users, their groups or their permissions)."""
    kv.delete(*(principal_key(pk) for pk in user_ids))


class JWTBearer(HttpBearer):
    """`Authorization: Bearer <access token>`; anything else is a 401 with `WWW-Authenticate: Bearer`."""

    openapi_bearerFormat = "JWT"  # ninja copies every openapi_* attribute into the security scheme

    async def __call__(self, request) -> User | None:
        header = request.headers.get("Authorization") or ""
        scheme, _, raw = header.partition(" ")
        user = None
        pk = None
        if scheme.lower() == "bearer" and raw.strip():
            sub = access_subject(raw.strip())
            if sub is not None:
                pk = _user_pk(sub)
        if pk is not None:
            # The token is signed, so `sub` names a user we issued it to: count the request against their
            # limit and fetch their cached principal in one Redis round trip (one more only on a cache miss).
            _, cached = await ratelimit.ahit_and_get(
                "user", str(pk), "API_RATE_LIMIT_USER", request, get=principal_key(pk)
            )
            user = await _aprincipal_from(pk, cached)
        if user is None:
            # Unauthenticated traffic (and a deactivated user's token) counts against the address's
            # anonymous limit.
            await ratelimit.ahit("anon", client_ip(request) or "-", "API_RATE_LIMIT_ANON", request)
            return None
        request.user = user
        user_id_var.set(str(user.pk))
        # The audit context dict was set by AuditContextMiddleware for this request and is shared with
        # the sync_to_async threads the services run in: naming the actor here (instead of nesting
        # set_actor, which would replace the context) attributes every API write.
        ctx = auditlog_value.get(None)
        if ctx is not None:
            ctx["actor"] = user
        return user

    async def authenticate(self, request, token):  # pragma: no cover - __call__ does the work
        raise NotImplementedError


bearer = JWTBearer()
