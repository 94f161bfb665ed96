"""Security headers Django 5.2 does not set itself: Content-Security-Policy and Permissions-Policy.

Django's SecurityMiddleware sets nosniff, Referrer-Policy and HSTS (production); XFrameOptionsMiddleware sets
``X-Frame-Options: DENY``. The policy here admits only this origin's scripts, which is all the admin and the API docs
need: the admin has no inline script, and django-ninja serves Swagger UI from its own static files (``ninja`` in
``INSTALLED_APPS``) with its settings in a JSON block, which CSP does not treat as script. Swagger UI sets inline
styles and uses ``data:`` images, hence those two allowances.
"""

from __future__ import annotations

from django.conf import settings

from vanguard.middleware import _Both

DEFAULT_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
DEFAULT_PERMISSIONS_POLICY = "geolocation=(), microphone=(), camera=()"


class SecurityHeadersMiddleware(_Both):
    """Add CSP and Permissions-Policy to every response that does not set its own."""

    def __init__(self, get_response):
        super().__init__(get_response)
        self.csp = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_CSP)
        self.permissions_policy = getattr(settings, "PERMISSIONS_POLICY", DEFAULT_PERMISSIONS_POLICY)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return self._apply(self.get_response(request))

    async def __acall__(self, request):
        return self._apply(await self.get_response(request))

    def _apply(self, response):
        if self.csp and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.csp
        if self.permissions_policy and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = self.permissions_policy
        return response
