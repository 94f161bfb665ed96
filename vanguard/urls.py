from django.contrib import admin
from django.urls import path, re_path

from vanguard.api import api, api_not_found
from vanguard.health import health, ready

urlpatterns = [
    path("health", health, name="health"),
    path("health/ready", ready, name="health-ready"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    re_path(r"^api/(?P<rest>.*)$", api_not_found),
]

# Unknown /api/ URLs (and a malformed UUID in an API path) answer a problem document, not an HTML page.
handler404 = "vanguard.api.handler404"

# A lost database answers 503 with Retry-After instead of 500 (vanguard.middleware.server_error).
handler500 = "vanguard.middleware.server_error"
