from django.contrib import admin
from django.templatetags.static import static
from django.urls import path, re_path
from django.views.generic import RedirectView

from vanguard.api import api, api_not_found
from vanguard.health import health, ready


class FaviconView(RedirectView):
    permanent = True

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("vanguard/favicon.svg")  # per request: the manifest (hashed name) is read lazily


urlpatterns = [
    # There is no public site: the root is the back office, and browsers asking for /favicon.ico get ours.
    path("", RedirectView.as_view(pattern_name="admin:index"), name="root"),
    path("favicon.ico", FaviconView.as_view(), name="favicon"),
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
