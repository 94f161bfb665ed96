"""Admin searches that must not travel in the URL (issue 12, item 3).

A national id or an e-mail typed into the customers search box would otherwise end up in `?q=…`: in proxy logs,
browser history, the Referer of the next request and every link the changelist builds. The search box therefore
posts (CSRF-protected) and such a term is exchanged for an opaque token:

    POST /admin/customers/customer/search/  q=123-45-6789   →  302 …/customer/?search=<token>

The token is random (not derived from the term), bound to the user who searched, and expires after
SEARCH_TOKEN_TTL seconds. The term is kept in the cache (Redis in production), encrypted under the field
encryption key, under a hash of the token, so neither a cache dump nor a logged URL reveals it.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from typing import Any

from django.core.cache import cache
from django.core.signing import BadSignature
from django_cryptography.utils.crypto import FernetBytes, InvalidToken

SEARCH_TOKEN_VAR = "search"  # noqa: S105 - a query parameter name, not a secret
SEARCH_TOKEN_TTL = 30 * 60  # long enough to open customers from the results and come back to them
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

POLICY_NUMBER = re.compile(r"^POL-[0-9A-F]{8}$", re.IGNORECASE)
# A national id: letters, digits, spaces and dashes with at least four digits (US SSN, UK NI number...).
SSN_LIKE = re.compile(r"^(?=(?:[^0-9]*[0-9]){4})[0-9A-Za-z][0-9A-Za-z \-]{5,30}$")
# Only digits, spaces and dashes with at least six digits: a national id, never a name or an email.
DIGITS_ONLY_ID = re.compile(r"^(?=(?:[^0-9]*[0-9]){6})[0-9][0-9 \-]{5,30}$")


def looks_like_ssn(term: str) -> bool:
    return bool(SSN_LIKE.match(term)) and not POLICY_NUMBER.match(term)


def is_sensitive_term(term: str) -> bool:
    """A term that must not appear in a URL: a national id (or anything shaped like one) or an e-mail (part)."""
    term = term.strip()
    return bool(DIGITS_ONLY_ID.match(term)) or looks_like_ssn(term) or "@" in term


def _now() -> float:
    return time.time()


def _cache_key(token: str) -> str:
    return "customers:search:" + hashlib.sha256(token.encode()).hexdigest()


def search_token_issue(*, user: Any, term: str) -> str:
    """Keep `term` for `user` and return the opaque token that stands for it in the changelist URL."""
    token = secrets.token_urlsafe(24)
    payload = json.dumps({"user": str(user.pk), "term": term, "at": _now()})
    cache.set(_cache_key(token), FernetBytes().encrypt(payload.encode()), timeout=SEARCH_TOKEN_TTL)
    return token


def search_token_resolve(*, user: Any, token: str) -> str | None:
    """The term behind `token`, or None when it is malformed, unknown, expired or another user's."""
    if not _TOKEN.match(token or ""):
        return None
    stored = cache.get(_cache_key(token))
    if stored is None:
        return None
    try:
        payload = json.loads(FernetBytes().decrypt(stored))
    except (BadSignature, InvalidToken, ValueError, TypeError):
        return None  # written under a key since rotated: the search is simply gone
    if payload.get("user") != str(user.pk) or _now() - float(payload.get("at", 0)) > SEARCH_TOKEN_TTL:
        return None
    return str(payload.get("term", ""))
