"""`/api/auth`: login, refresh, logout, me (SPEC §3, §6)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from asgiref.sync import sync_to_async
from django.contrib.auth import authenticate
from ninja import Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict, Field

from vanguard.accounts import auth
from vanguard.accounts.authority import authority_limit
from vanguard.api_support import ratelimit
from vanguard.api_support.http import json_response, problem
from vanguard.api_support.schemas import ErrorResponse, Money
from vanguard.core.net import client_ip

router = Router(tags=["auth"])


class LoginIn(Schema):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(..., min_length=1, max_length=254)
    password: str = Field(..., min_length=1, max_length=1024)


class RefreshIn(Schema):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(..., min_length=1, max_length=4096)


class Token(Schema):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = Field(description="always 'bearer'")
    expires_in: int = Field(..., description="seconds until the access token expires")


class MeResponse(Schema):
    id: str
    email: str
    full_name: str
    is_superuser: bool
    groups: list[str]
    permissions: list[str]
    authority_limit: Money | None = Field(None, description="approval authority; null means unlimited")


def _login(request, email: str, password: str):
    request.login_interface = "api"
    user = authenticate(request, email=email, password=password)
    lock = getattr(request, "login_lockout", None)
    if lock is not None:
        return None, lock
    if user is None or not user.is_staff or user.is_system:
        return None, None
    return auth.tokens_issue(user=user), None


@router.post(
    "/login",
    operation_id="login",
    openapi_extra={"security": []},  # public: no token
    auth=None,
    response={200: Token, 401: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse},
    summary="Exchange email and password for an access and a refresh token",
)
async def login(request, payload: LoginIn):
    """Exchange a staff member's e-mail and password for a JWT access token (valid `expires_in` seconds)
    and a refresh token. Wrong credentials, or an account that is not active staff, are a 401 that does not say
    which; repeated failures lock the account for a while (429 with Retry-After). No token needed."""
    await ratelimit.ahit("anon", client_ip(request) or "-", "API_RATE_LIMIT_ANON", request)
    tokens, lock = await sync_to_async(_login)(request, payload.email, payload.password)
    if lock is not None:
        return problem(request, 429, lock.message, headers={"Retry-After": str(lock.retry_after)})
    if tokens is None:
        return problem(
            request, 401, "The email or password is not correct.", headers={"WWW-Authenticate": 'Bearer realm="api"'}
        )
    return json_response(tokens)


@router.post(
    "/refresh",
    operation_id="refresh",
    openapi_extra={"security": []},  # public: no token
    auth=None,
    response={200: Token, 401: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse},
    summary="Rotate a refresh token (the old one is blacklisted)",
)
async def refresh(request, payload: RefreshIn):
    """Exchange a refresh token for a new access token and a new refresh token. The token sent is
    blacklisted: using it again (or an expired or revoked one) is a 401. No access token needed."""
    await ratelimit.ahit("anon", client_ip(request) or "-", "API_RATE_LIMIT_ANON", request)
    tokens = await sync_to_async(auth.tokens_refresh)(refresh_token=payload.refresh_token)
    return json_response(tokens)


@router.post(
    "/logout",
    operation_id="logout",
    response={204: None, 401: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse},
    summary="Blacklist the caller's refresh token",
)
async def logout(request, payload: RefreshIn):
    """Revoke (blacklist) the caller's refresh token; the access token simply expires. Answers 204."""
    await sync_to_async(auth.tokens_revoke)(refresh_token=payload.refresh_token, user=request.auth)
    return Status(204, None)


@router.get(
    "/me",
    operation_id="getCurrentUser",
    response={200: MeResponse, 401: ErrorResponse, 429: ErrorResponse},
    summary="The caller",
)
async def me(request):
    """The signed-in staff member: e-mail, name, groups, permissions and the claims-approval authority
    limit (null: unlimited)."""
    user = request.auth
    return json_response(
        {
            "id": str(user.pk),
            "email": user.email,
            "full_name": user.full_name,
            "is_superuser": user.is_superuser,
            "groups": sorted(user._group_names_cache),
            "permissions": sorted(user._perm_cache),
            # Money as everywhere else: a string with two decimals, however the limit was configured ("10000").
            "authority_limit": None
            if (limit := authority_limit(user)) is None
            else str(limit.quantize(Decimal("0.01"))),
        }
    )
