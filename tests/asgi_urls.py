"""A plain form view with no CSRF decorator of its own, so only the CSRF middleware guards it (tests/test_asgi.py)."""

from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.urls import path


def form_post(request):
    if request.method == "GET":  # hands out the CSRF cookie, as a page with a form would
        return HttpResponse(get_token(request).encode())
    return HttpResponse(b"accepted")


urlpatterns = [path("form", form_post)]
