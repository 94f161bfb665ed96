"""The site's root and favicon (issue 9): `/` leads to the back office, and browsers find an icon."""

from __future__ import annotations

from django.contrib.staticfiles import finders
from django.urls import reverse


def test_the_root_redirects_to_the_admin(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


def test_favicon_ico_redirects_to_the_served_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("vanguard/favicon.svg")
    assert finders.find("vanguard/favicon.svg")


def test_every_admin_page_links_the_icon(client):
    html = client.get(reverse("admin:login")).content.decode()
    assert 'rel="icon"' in html and "vanguard/favicon.svg" in html
