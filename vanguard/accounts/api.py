"""`/api/auth`: login, refresh, logout, me (SPEC §3, §6)."""

from __future__ import annotations

from decimal import Decimal

from asgiref.sync import sync_to_async
from django.contrib.auth import authenticate
from ninja import Router, Schema
from ninja.responses import Status
from pydantic import Field

from vanguard.accounts import auth
from vanguard.accounts.authority import authority_limit
from vanguard.api_support import ratelimit
from vanguard.api_support.http import json_response, problem
from vanguard.api_support.schemas import ErrorResponse
from vanguard.middleware import client_ip

router = Router(tags=["auth"])


class LoginIn(Schema):
    email: str = Field(..., min_length=1, max_length=254)
    password: str = Field(..., min_length=1, max_length=1024)


class RefreshIn(Schema):
    refresh_token: str = Field(..., min_length=1, max_length=4096)


class Token(Schema):
    access_token: str
    refresh_token: str
    token_type: str = Field("bearer", description="always 'bearer'")
    expires_in: int = Field(..., description="seconds until the access token expires")


class MeResponse(Schema):
    id: str
    email: str
    full_name: str
    is_superuser: bool
    groups: list[str]
    permissions: list[str]
    authority_limit: Decimal | None = Field(None, description="approval authority; null means unlimited")


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
    "/login", auth=None, response={200: Token, 401: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse},
    summary="Exchange email and password for an access and a refresh token",
)
async def login(request, payload: LoginIn):
    await ratelimit.ahit("anon", client_ip(request) or "-", "API_RATE_LIMIT_ANON", request)
    tokens, lock = await sync_to_async(_login)(request, payload.email, payload.password)
    if lock is not None:
        return problem(request, 429, lock.message, headers={"Retry-After": str(lock.retry_after)})
    if tokens is None:
        return problem(request, 401, "The email or password is not correct.",
                       headers={"WWW-Authenticate": 'Bearer realm="api"'})
    return json_response(tokens)


@router.post(
    "/refresh", auth=None, response={200: Token, 401: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse},
    summary="Rotate a refresh token (the old one is blacklisted)",
)
async def refresh(request, payload: RefreshIn):
    await ratelimit.ahit("anon", client_ip(request) or "-", "API_RATE_LIMIT_ANON", request)
    tokens = await sync_to_async(auth.tokens_refresh)(refresh_token=payload.refresh_token)
    return json_response(tokens)


@router.post(
    "/logout", response={204: None, 401: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse},
    summary="Blacklist the caller's refresh token",
)
async def logout(request, payload: RefreshIn):
    await sync_to_async(auth.tokens_revoke)(refresh_token=payload.refresh_token, user=request.auth)
    return Status(204, None)


@router.get("/me", response={200: MeResponse, 401: ErrorResponse, 429: ErrorResponse}, summary="The caller")
async def me(request):
    user = request.auth
    return json_response({
        "id": str(user.pk),
        "email": user.email,
        "full_name": user.full_name,
        "is_superuser": user.is_superuser,
        "groups": sorted(user._group_names_cache),
        "permissions": sorted(user._perm_cache),
        "authority_limit": authority_limit(user),
    })
