"""Login lockout shared by `/admin/login/` and `/api/auth/login` (SPEC §6).

Why not django-axes: axes applies one failure limit to every lockout parameter, while the spec wants
5 failures per *account name* (existing or not, from any address) and 20 per *IP address*, each with its
own counter. The counters therefore live here, on Django's cache (Redis in production, so every worker
shares them; local memory in development):

    lockout:fail:acct:<hash>   the times of one account name's failures in the last LOGIN_COOLOFF_MINUTES
    lockout:fail:ip:<hash>     the times of one address's failures
    lockout:lock:acct:<hash>   set when an account name is locked; value = unlock time (epoch seconds)
    lockout:lock:ip:<hash>     set when an address is locked

The window slides: the limit counts the failures of the last LOGIN_COOLOFF_MINUTES, however they fall, so
spreading attempts across a fixed window's boundary gains nothing. Reaching the limit locks for
LOGIN_COOLOFF_MINUTES. With Redis the failure times are a sorted set updated in one MULTI (exact under
concurrent attempts); without it, a list in the local-memory cache. A locked attempt is refused before any
password check. A successful login clears the account's failures (not the address's). Every failed and
refused attempt is written to `api_support.LoginAttempt` for compliance officers. Staff with
`api_support.lift_lockout` may lift a lock early (`lockout_lift`), which is written there too.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

from vanguard.accounts.permissions import require
from vanguard.core.emails import normalise_email
from vanguard.core.errors import InvalidInput
from vanguard.core.net import client_ip
from vanguard.core.request_context import get_request_id

if TYPE_CHECKING:
    from django.http import HttpRequest

    from vanguard.accounts.models import User


@dataclass(frozen=True)
class Lockout:
    scope: str  # "account" or "ip"
    retry_after: int  # seconds until the lock lifts

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after / 60))
        what = "this account" if self.scope == "account" else "your network address"
        return (
            f"Too many failed sign-in attempts for {what}. Sign-in is locked; try again in {minutes} "
            f"minute{'s' if minutes != 1 else ''}."
        )


def normalise_username(username: str | None) -> str:
    return normalise_email(username)[:254]  # the one e-mail rule: a look-alike name shares the counter


def _digest(value: str) -> str:
    # Hashed so that account names (personal data) never appear as cache keys.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _keys(scope: str, value: str) -> tuple[str, str]:
    digest = _digest(value)
    return f"lockout:fail:{scope}:{digest}", f"lockout:lock:{scope}:{digest}"


def _cooloff_seconds() -> int:
    return settings.LOGIN_COOLOFF_MINUTES * 60


def locked_out(username: str, ip: str | None) -> Lockout | None:
    """The active lock on this account name or address, if any."""
    now = time.time()
    for scope, value in (("account", normalise_username(username)), ("ip", ip or "")):
        if not value:
            continue
        until = cache.get(_keys(scope, value)[1])
        if until and until > now:
            return Lockout(scope=scope, retry_after=max(1, math.ceil(until - now)))
    return None


def _failures_in_window(fail_key: str, now: float, window: int) -> int:
    """Record a failure at `now` and return how many fell in the last `window` seconds."""
    if settings.REDIS_URL:
        from vanguard import kv

        pipe = kv.sredis().pipeline(transaction=True)
        pipe.zadd(fail_key, {f"{now:.6f}:{secrets.token_hex(4)}": now})  # one member per failure, even at once
        pipe.zremrangebyscore(fail_key, 0, now - window)
        pipe.zcard(fail_key)
        pipe.expire(fail_key, window)
        return pipe.execute()[2]
    times = [t for t in cache.get(fail_key, []) if t > now - window] + [now]
    cache.set(fail_key, times, timeout=window)
    return len(times)


def _count_failure(scope: str, value: str, limit: int) -> bool:
    """Add one failure; True when it reached the limit (and the lock was set)."""
    fail_key, lock_key = _keys(scope, value)
    cooloff = _cooloff_seconds()
    now = time.time()
    if _failures_in_window(fail_key, now, cooloff) >= limit:
        cache.set(lock_key, now + cooloff, timeout=cooloff)
        _forget_failures(fail_key)
        return True
    return False


def _forget_failures(fail_key: str) -> None:
    if settings.REDIS_URL:
        from vanguard import kv

        kv.sredis().delete(fail_key)
    else:
        cache.delete(fail_key)


def register_failure(username: str, ip: str | None) -> None:
    name = normalise_username(username)
    if name:
        _count_failure("account", name, settings.LOGIN_FAILURE_LIMIT)
    if ip:
        _count_failure("ip", ip, settings.LOGIN_IP_FAILURE_LIMIT)


def clear_account(username: str) -> None:
    """A successful login clears the account's failure counter (an active lock cannot be reached)."""
    _forget_failures(_keys("account", normalise_username(username))[0])


def _lift(scope: str, value: str) -> bool:
    """Remove the lock and the failures of one account name or address; True when a lock was active."""
    fail_key, lock_key = _keys(scope, value)
    until = cache.get(lock_key)
    cache.delete(lock_key)
    _forget_failures(fail_key)
    return bool(until and until > time.time())


def lockout_lift(*, actor: User, username: str = "", ip: str = "", request: HttpRequest | None = None) -> list[str]:
    """Lift a sign-in lockout before it expires: the lock and the failure counts of an account name and/or an
    address are removed, so the next attempt is judged afresh (a wrong password still counts).

    Requires `api_support.lift_lockout` (claims managers; superusers). Records who lifted what as a
    LoginAttempt row with outcome "lifted" (`locked_by` names the scopes that were locked, "" if none was), in
    the sign-in log beside the failures it ends. Returns the scopes that were locked ("account", "ip").
    """
    from vanguard.api_support.models import LoginAttempt

    require(actor, "api_support.lift_lockout", "lift sign-in lockouts")
    name, address = normalise_username(username), (ip or "").strip()
    if not name and not address:
        raise InvalidInput("Name the account or the address whose lockout to lift.")
    lifted = [scope for scope, value in (("account", name), ("ip", address)) if value and _lift(scope, value)]
    LoginAttempt.objects.create(
        username=name,
        ip_address=address or None,
        outcome=LoginAttempt.Outcome.LIFTED,
        interface=getattr(request, "login_interface", LoginAttempt.Interface.ADMIN),
        locked_by=",".join(lifted),
        lifted_by=actor,
        request_id=get_request_id() or "",
        user_agent=(request.headers.get("User-Agent", "") if request is not None else "")[:255],
    )
    return lifted


def record_attempt(request, username: str, *, outcome: str, locked_by: str = "") -> None:
    from vanguard.api_support.models import LoginAttempt

    LoginAttempt.objects.create(
        username=normalise_username(username),
        ip_address=client_ip(request) if request is not None else None,
        outcome=outcome,
        interface=getattr(request, "login_interface", LoginAttempt.Interface.ADMIN),
        locked_by=locked_by,
        request_id=get_request_id() or "",
        user_agent=(request.headers.get("User-Agent", "") if request is not None else "")[:255],
    )


class LockoutModelBackend(ModelBackend):
    """ModelBackend behind the lockout: a locked name or address never reaches the password check.

    On a lock it stores the `Lockout` on `request.login_lockout` (the API answers 429 with Retry-After,
    the admin login page shows the message) and raises PermissionDenied, which stops `authenticate()`.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get("email")
        if username is None or password is None:
            return None
        username = normalise_email(username)  # the account checked is the account counted (not truncated)
        ip = client_ip(request) if request is not None else None
        lock = locked_out(username, ip)
        if lock is not None:
            if request is not None:
                request.login_lockout = lock
            record_attempt(request, username, outcome="locked_out", locked_by=lock.scope)
            raise PermissionDenied(lock.message)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            register_failure(username, ip)
            record_attempt(request, username, outcome="failed")
            return None
        clear_account(username)
        return user
