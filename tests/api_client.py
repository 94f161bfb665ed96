"""API test helpers: an ASGI client (Django's AsyncClient driven from sync tests) with bearer tokens, and the
problem-document assertion. The fixtures (`api_as`, the counter reset) are registered in tests/conftest.py, so
each app's API tests live beside the app's other tests (tests/customers/test_api.py, ...)."""

from __future__ import annotations

from typing import Any

import orjson
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from vanguard.accounts.auth import tokens_issue


class _PeerClient(AsyncClient):
    """AsyncClient whose ASGI scope carries a chosen peer address (REMOTE_ADDR)."""

    def __init__(self, remote_addr: str):
        super().__init__()
        self.remote_addr = remote_addr

    def _base_scope(self, **request):
        scope = super()._base_scope(**request)
        scope["client"] = [self.remote_addr, 0]
        return scope


class Api:
    """Calls the API as `user` (None: anonymous). `call()` returns Django's response with `.json()`."""

    def __init__(self, user=None, token: str | None = None, remote_addr: str = "127.0.0.1"):
        self.client = _PeerClient(remote_addr)
        self.user = user
        self.token = token if token is not None else (tokens_issue(user=user)["access_token"] if user else None)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
        query: dict | None = None,
        **extra,
    ):
        all_headers = dict(headers or {})
        if self.token and "Authorization" not in all_headers:
            all_headers["Authorization"] = f"Bearer {self.token}"
        fn = getattr(self.client, method.lower())
        if method.upper() in {"GET", "HEAD"}:
            return async_to_sync(fn)(path, query or {}, headers=all_headers, **extra)
        if content_type.startswith("multipart"):
            return async_to_sync(fn)(path, body, headers=all_headers, **extra)  # Django encodes the parts
        if raw is not None:
            data = raw
        elif body is None:
            data = b""
        else:
            data = orjson.dumps(body)
        return async_to_sync(fn)(path, data, content_type=content_type, headers=all_headers, **extra)

    def get(self, path, query=None, **kw):
        return self.call("GET", path, query=query, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


def assert_problem(response, status: int, code: str | None = None) -> dict:
    """The response is an RFC 7807 problem document with this status (and code)."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail", "instance", "code", "correlation_id"} <= body.keys()
    assert body["status"] == status
    assert body["correlation_id"] == response["X-Request-ID"]
    if code:
        assert body["code"] == code
    return body
