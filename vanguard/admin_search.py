"""Admin searches that must not travel in the URL (SPEC §6: no PII in URLs).

An e-mail or a national id typed into a changelist's search box would otherwise end up in `?q=…`: in proxy logs,
browser history, the Referer of the next request and every link the changelist builds. A ModelAdmin with
`PostedSearchMixin` therefore gets a search box that posts (CSRF-protected), and such a term is exchanged for an
opaque token:

    POST /admin/<app>/<model>/search/  q=ada@example.com   →  302 …/<model>/?search=<token>

The token is random (not derived from the term), bound to the user who searched, and expires after
SEARCH_TOKEN_TTL seconds. The term is kept in the cache (Redis in production), encrypted under the field
encryption key, under a hash of the token, so neither a cache dump nor a logged URL reveals it. A `?q=` that is
itself sensitive (an old link or bookmark) is refused with a message, and an unknown or expired token runs no
search at all (so "select all" on an action never falls back to every row).

The one template, `templates/admin/search_form.html`, serves every changelist: it posts when the ModelAdmin has
`posted_search`, and is Django's own GET form otherwise.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from typing import Any

from django.contrib import messages
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR, SEARCH_VAR, ChangeList
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.signing import BadSignature
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.text import smart_split, unescape_string_literal
from django_cryptography.utils.crypto import FernetBytes, InvalidToken

SEARCH_TOKEN_VAR = "search"  # noqa: S105 - a query parameter name, not a secret
SEARCH_TOKEN_TTL = 30 * 60  # long enough to open records from the results and come back to them
SEARCH_TERM_MAX = 254
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# Only digits, spaces and dashes with at least six digits: a national id or a phone number, never a name.
DIGITS_ONLY_ID = re.compile(r"^(?=(?:[^0-9]*[0-9]){6})[0-9+][0-9 \-]{5,30}$")
# Query parameters the search form does not carry over into the new search.
NOT_CARRIED = frozenset({"csrfmiddlewaretoken", SEARCH_VAR, SEARCH_TOKEN_VAR, PAGE_VAR, ERROR_FLAG})


def search_words(term: str) -> list[str]:
    """The words of a search box term as ModelAdmin.get_search_results splits them (smart_split, quoted phrases kept
    together): a changelist that builds its own indexed search keeps the admin's "every word matches" semantics."""
    words = []
    for bit in smart_split(term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        words.append(bit)
    return words


def _now() -> float:
    return time.time()


def _cache_key(token: str) -> str:
    return "admin:search:" + hashlib.sha256(token.encode()).hexdigest()


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


class TokenSearchChangeList(ChangeList):
    """A changelist whose search term may come from a search token instead of `?q=`, so the links it builds
    (pages, sorting, filters, the preserved filters of the change links) carry only the token.

    Relies on Django's ChangeList internals (5.2; check on upgrade): get_queryset() searches `self.query`, and
    get_filters_params() returns the query parameters that are taken as field lookups (the token is not one).
    """

    def __init__(self, request, *args, **kwargs):
        self.token_term = getattr(request, "_posted_search_term", None)
        super().__init__(request, *args, **kwargs)

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        lookup_params.pop(SEARCH_TOKEN_VAR, None)
        return lookup_params

    def get_queryset(self, request, exclude_parameters=None):
        if self.token_term is not None:
            self.query = self.token_term
        return super().get_queryset(request, exclude_parameters)


class PostedSearchMixin:
    """A changelist search box that posts; e-mails and national ids travel as an opaque token (module doc)."""

    posted_search = True
    sensitive_search_message = (
        "Search for a national id or an email with the search box: it is not sent in the address."
    )

    def is_sensitive_search(self, term: str) -> bool:
        """A term that must not appear in a URL. Default: any e-mail (or part of one) and any run of digits long
        enough to be a national id or a phone number. Admins searching other personal values extend it."""
        term = term.strip()
        return "@" in term or bool(DIGITS_ONLY_ID.match(term))

    def get_changelist(self, request, **kwargs):
        return TokenSearchChangeList

    def _changelist_url(self) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")

    def _changelist_redirect(self, request: HttpRequest, *, drop: set[str]) -> HttpResponseRedirect:
        kept = request.GET.copy()
        for name in drop:
            kept.pop(name, None)
        url = self._changelist_url()
        return HttpResponseRedirect(f"{url}?{kept.urlencode()}" if kept else url)

    def changelist_view(self, request, extra_context=None):
        if self.is_sensitive_search(request.GET.get(SEARCH_VAR, "")):
            self.message_user(request, self.sensitive_search_message, messages.WARNING)
            return self._changelist_redirect(request, drop={SEARCH_VAR})
        token = request.GET.get(SEARCH_TOKEN_VAR)
        if token is not None:
            term = search_token_resolve(user=request.user, token=token)
            if term is None:
                # Also on a POST (an action): "select all" must never fall back to every row.
                self.message_user(request, "That search has expired; search again.", messages.WARNING)
                return self._changelist_redirect(request, drop={SEARCH_VAR, SEARCH_TOKEN_VAR})
            request._posted_search_term = term
        return super().changelist_view(request, extra_context)

    def search_view(self, request: HttpRequest) -> HttpResponse:
        """The search box posts here (CSRF-protected). A sensitive term becomes an opaque token bound to this
        user; any other term (a name, a reference number) goes to `?q=` as before. Filters are kept."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        term = request.POST.get(SEARCH_VAR, "").strip()[:SEARCH_TERM_MAX]
        params = {name: value for name, value in request.POST.items() if name not in NOT_CARRIED}
        if self.is_sensitive_search(term):
            params[SEARCH_TOKEN_VAR] = search_token_issue(user=request.user, term=term)
        elif term:
            params[SEARCH_VAR] = term
        url = self._changelist_url()
        return HttpResponseRedirect(f"{url}?{urlencode(params)}" if params else url)

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_search"
        return [path("search/", self.admin_site.admin_view(self.search_view), name=name), *super().get_urls()]
