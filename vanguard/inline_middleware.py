"""Django's and WhiteNoise's middleware, run on the event loop when they do no I/O.

Under ASGI, Django runs every hook of a `MiddlewareMixin` class through `sync_to_async`: a thread hop for each
`process_request`, `process_view` and `process_response`, a dozen per request with the stock stack, and WhiteNoise
(sync only) would turn the whole rest of the chain into async → sync → async. These subclasses keep the stock
behaviour and settings (and `check --deploy` sees the same classes by inheritance) but call the hooks inline
when they are pure computation, and hand them to a thread only for the cases that touch the database or disk:

- security, common, authentication and X-Frame-Options hooks never do I/O (authentication only installs a lazy
  user), so they always run inline;
- the session hook saves (I/O) only when the session was modified; the messages hook stores (possibly into the
  session) only when messages were added or read; CSRF's view check reads the form body only on an unsafe method
  of a view that is not exempt — those cases go to a thread, everything else stays inline;
- static files are looked up in WhiteNoise's in-memory index; a hit is served from a thread (it opens a file).

Token-authenticated API requests therefore cross no thread in the middleware; admin requests cross only where
they really read or write the session. In sync mode (WSGI, the test client) the classes behave exactly as stock.

Measured (2026-12-02, one uvicorn worker, 32 connections, three interleaved runs against the stock classes):
`GET /api/customers/{id}` +24% requests/s, `GET /api/policies/{id}` +20%. tests/test_asgi.py fails if the stack
costs an API request more thread hops than an empty stack does.

API operations also skip the browser-only layers altogether (`BrowserOnlyBegin` … `browser_only_end`, below).
Measured (2026-12-04, against the same MIDDLEWARE without the two markers): in-process, the CPU of an
authenticated request 1.04-1.09x less for `/api/auth/me` and 1.01-1.13x for `GET /api/customers/{id}` (5 alternating
rounds each, every round won); over one uvicorn worker, 16 connections, three alternating rounds of the customer
read: 577/546/549 against 573/534/516 requests/s (+1-6%). A small gain on its own; the larger one is for a caller
whose browser also holds an admin session (the docs page's "Try it out", a frontend on the admin's host): the
cookie no longer makes every API request read the session and its user from the database (two queries in a thread).
tests/test_browser_only_middleware.py fails if the block is crossed, if an API answer differs in any header from
the whole chain's, or if the session is read.
"""

from __future__ import annotations

import threading

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Messages
from django.contrib.sessions.middleware import SessionMiddleware as _Session
from django.core.exceptions import ImproperlyConfigured
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrame
from django.middleware.common import CommonMiddleware as _Common
from django.middleware.csrf import CsrfViewMiddleware as _Csrf
from django.middleware.security import SecurityMiddleware as _Security
from whitenoise.middleware import WhiteNoiseMiddleware as _WhiteNoise

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class _Inline:
    """`MiddlewareMixin.__acall__` without the thread hops; `_in_thread(request, response)` picks the exceptions."""

    def _in_thread(self, request, response) -> bool:
        return False

    async def __acall__(self, request):
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self._in_thread(request, response):
                return await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
            return self.process_response(request, response)
        return response


class SecurityMiddleware(_Inline, _Security):
    pass


class CommonMiddleware(_Inline, _Common):
    pass


class AuthenticationMiddleware(_Inline, _Authentication):
    pass


class XFrameOptionsMiddleware(_Inline, _XFrame):
    pass


class SessionMiddleware(_Inline, _Session):
    def _in_thread(self, request, response) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class MessageMiddleware(_Inline, _Messages):
    def _in_thread(self, request, response) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class CsrfViewMiddleware(_Inline, _Csrf):
    """The request and response hooks only read and set the CSRF cookie. In async mode the view check is a
    coroutine, so Django does not wrap it in a thread; it takes one only when it must read a form body."""

    def __init__(self, get_response):
        super().__init__(get_response)
        if self.async_mode:
            self.process_view = self._aprocess_view

    async def _aprocess_view(self, request, callback, callback_args, callback_kwargs):
        check = super().process_view
        if getattr(callback, "csrf_exempt", False) or request.method in SAFE_METHODS:
            return check(request, callback, callback_args, callback_kwargs)
        return await sync_to_async(check, thread_sensitive=True)(request, callback, callback_args, callback_kwargs)


class StaticFilesMiddleware(_WhiteNoise):
    """WhiteNoise, async-capable: the lookup is a dict access; only a hit (opening the file) takes a thread."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, settings=settings):
        super().__init__(get_response, settings)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request):
        if self.autorefresh:
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)


# --- API operations skip the browser-only middleware -------------------------------------------------------------
# Static files, the session, CSRF, the session user and messages serve the admin (and the API's docs pages, which
# sign staff in through the session). An API operation authenticates with its bearer token and reads none of
# them, yet each is a layer of the chain it crosses twice. `BrowserOnlyBegin` and `browser_only_end` bracket
# those layers in MIDDLEWARE: an API operation's request jumps from the one to the chain after the other, so
# everything outside the block (proxy headers, request id, the security headers, CORS, the host check and
# Content-Length of CommonMiddleware, X-Frame-Options, the audit context) runs for it exactly as for the admin.
# Both markers are built by Django's `BaseHandler.load_middleware`, innermost first, so `browser_only_end`
# hands the chain after the block to the `BrowserOnlyBegin` built next (a thread-local: each handler is built
# on one thread). Relies on that build order (Django 5.2, pinned; docs/architecture.md). Measured: the docstring.

# Paths under /api/ that are pages for people: the docs (staff session) and the document they render.
BROWSER_API_PATHS = ("/api/docs", "/api/openapi.json")
_block = threading.local()


def is_api_operation(path: str) -> bool:
    return path.startswith("/api/") and not path.startswith(BROWSER_API_PATHS)


def browser_only_end(get_response):
    """Marks the end of the browser-only block: its `get_response` is where an API operation rejoins the chain."""
    _block.after = get_response
    return get_response


browser_only_end.sync_capable = browser_only_end.async_capable = True


class BrowserOnlyBegin:
    """Marks the start of the browser-only block; an API operation's request goes on past its end."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        after = getattr(_block, "after", None)
        if after is None:
            raise ImproperlyConfigured("BrowserOnlyBegin needs browser_only_end after it in MIDDLEWARE")
        del _block.after
        self.is_async = iscoroutinefunction(get_response)
        if iscoroutinefunction(after) != self.is_async:
            raise ImproperlyConfigured("every middleware between BrowserOnlyBegin and browser_only_end must be async")
        self.get_response, self.after = get_response, after
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if is_api_operation(request.path_info):
            return self.after(request)
        return self.get_response(request)
