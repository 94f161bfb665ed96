"""The journeys' guard itself: what the browser reports is caught, and the admin's assets really load."""

from __future__ import annotations

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_missing_asset_and_a_script_error_are_caught(page, demo, browser_problems):
    # given a signed-in page with no problem so far
    sign_in(page, demo["superuser"])
    page.wait_for_load_state("load")
    assert browser_problems.problems == []
    # when the page asks for a static file that does not exist, and a script throws
    page.evaluate("""() => new Promise(done => {
        const img = document.createElement('img');
        img.onerror = img.onload = () => done();
        img.src = '/static/admin/img/no-such-icon.svg';
        document.body.appendChild(img);
    })""")
    page.evaluate("() => setTimeout(() => { throw new Error('journey-guard') }, 0)")
    page.wait_for_function("() => true")
    page.wait_for_timeout(200)
    # then both are reported (and would fail a journey)
    reported = "\n".join(browser_problems.problems)
    assert "HTTP 404: GET" in reported and "no-such-icon.svg" in reported
    assert "journey-guard" in reported
    browser_problems.problems.clear()


def test_the_admin_stylesheets_and_scripts_come_from_the_collected_manifest(page, demo):
    # given the collected static files (hashed names, as in production)
    served = []
    page.on("response", lambda response: served.append((response.url, response.status)))
    # when the sign-in page loads
    page.goto("/admin/login/")
    page.wait_for_load_state("load")
    # then its stylesheets are hashed files served by WhiteNoise
    styles = [(url, status) for url, status in served if "/static/admin/css/base." in url]
    assert styles and all(status == 200 for _, status in styles), served
    assert all(url.rsplit("/", 1)[-1].count(".") == 2 for url, _ in styles), styles
