"""Deploy checks for the middleware that `vanguard.inline_middleware` subclasses.

Django's own deploy checks (security.W001-W003) look for the stock dotted paths in MIDDLEWARE and would report
the security, clickjacking and CSRF middleware as missing. They are silenced in settings and replaced here by
the same checks on the class hierarchy: a subclass of the stock middleware counts, a missing one still warns.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.module_loading import import_string

REQUIRED = (
    (SecurityMiddleware, "vanguard.W001", "HSTS, nosniff, the referrer and opener policies and the SSL redirect"),
    (XFrameOptionsMiddleware, "vanguard.W002", "the X-Frame-Options header"),
    (CsrfViewMiddleware, "vanguard.W003", "CSRF protection of the admin"),
)
REPLACED = ["security.W001", "security.W002", "security.W003"]


def _installed(base: type) -> bool:
    for path in settings.MIDDLEWARE:
        try:
            cls = import_string(path)
        except ImportError:
            continue
        if isinstance(cls, type) and issubclass(cls, base):
            return True
    return False


@register(Tags.security, deploy=True)
def check_security_middleware(app_configs, **kwargs) -> list[Warning]:
    return [
        Warning(
            f"No subclass of {base.__module__}.{base.__qualname__} in MIDDLEWARE: {what} will be missing.", id=check_id
        )
        for base, check_id, what in REQUIRED
        if not _installed(base)
    ]
