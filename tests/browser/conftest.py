"""Browser journeys (issue 9): Playwright for Python driving Debian's Chromium against the live ASGI app.

- The browser is `/usr/bin/chromium` (`apt-get install chromium`; `.ci/run` installs it), never a downloaded
  build: `playwright install` is not used. One browser per session, a new context (cookies, storage) per test.
- The server is the product's own ASGI stack (`vanguard.asgi.ReusedThreadASGIHandler`, every middleware the
  product runs, WhiteNoise included) under uvicorn in a thread of this process, on the pytest-django test
  database with committed data (`transactional_db`). Static files are collected once per session with the
  production storage (hashed, compressed manifest) and served by WhiteNoise, so a missing or mis-referenced
  asset is a failed request here as it would be in production.
- Every test seeds the demo book with `manage.py seed` (the real services) and sets a known password on each
  demo login.
- A journey fails on any browser console error, uncaught page error, failed request, or an HTTP error answer
  (any 5xx; any 4xx on a sub-resource: static files, favicon, XHR). A failing journey saves a screenshot and
  the page's HTML under a folder named in the failure report.

Outside CI a machine without Playwright or Chromium skips; with `CI` set their absence is a failure.
`SAVE_SCREENSHOTS=1` makes the journeys save the README tour pictures to docs/screenshots/.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test.utils import override_settings

from tests.browser.remote import PlaywrightThread
from tests.live_asgi import serve

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 900}
REPO = Path(__file__).resolve().parents[2]
# Failure screenshots: BROWSER_FAILURES_DIR, else a folder under the system temporary directory.
FAILURES = Path(os.environ.get("BROWSER_FAILURES_DIR") or Path(tempfile.gettempdir()) / "vanguard-browser-failures")
TOUR = REPO / "docs" / "screenshots"
# The password every demo login gets in a journey (it meets the staff password policy).
PASSWORD = "Journey-Pass-2468!"
TIMEOUT_MS = 10_000
# Production static storage: the hashed, compressed manifest the Docker image collects.
STATIC_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _playwright_available() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the browser journeys need Playwright for Python (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        _missing(f"the browser journeys need Chromium at {CHROMIUM} (apt-get install -y chromium)")


# --- browser --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def playwright_thread() -> Iterator[PlaywrightThread]:
    _playwright_available()
    worker = PlaywrightThread()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def browser(playwright_thread):
    from playwright.sync_api import sync_playwright

    playwright = playwright_thread.run(lambda: sync_playwright().start())
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture(scope="session")
def expect(playwright_thread):
    """Playwright's `expect` (web-first assertions that wait), run on the Playwright thread."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    return playwright_thread.wrap(expect)


@dataclass
class BrowserProblems:
    """What the page reported that a journey must not produce."""

    origin: str
    allowed: list[re.Pattern] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """Accept an error answer a journey provokes on purpose (a URL regex)."""
        self.allowed.append(re.compile(pattern))

    def _is_allowed(self, url: str) -> bool:
        return any(pattern.search(url) for pattern in self.allowed)

    def on_console(self, message) -> None:
        if message.type == "error":
            location = message.location or {}
            url = location.get("url", "")
            if not self._is_allowed(url):
                self.problems.append(f"console error: {message.text} ({url or 'no location'})")

    def on_page_error(self, error) -> None:
        self.problems.append(f"page error: {error}")

    def on_request_failed(self, request) -> None:
        failure = request.failure or ""
        # ERR_ABORTED is the browser cancelling a request itself: a download ending its navigation, or an image
        # still loading when the journey moves on. A server that fails a request answers 4xx/5xx (on_response)
        # or drops the connection (ERR_CONNECTION_*, ERR_EMPTY_RESPONSE...), which are reported.
        if "ERR_ABORTED" in failure:
            return
        self.problems.append(f"request failed: {request.method} {request.url} ({failure})")

    def on_response(self, response) -> None:
        status, request = response.status, response.request
        if status < 400 or self._is_allowed(response.url):
            return
        if status >= 500 or request.resource_type != "document":
            self.problems.append(f"HTTP {status}: {request.method} {response.url} ({request.resource_type})")


@pytest.fixture
def browser_problems(live_server_url) -> BrowserProblems:
    return BrowserProblems(origin=live_server_url)


@pytest.fixture
def page(browser, live_server_url, browser_problems):
    context = browser.new_context(
        base_url=live_server_url, viewport=VIEWPORT, accept_downloads=True, locale="en-GB", timezone_id="UTC"
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("console", browser_problems.on_console)
    page.on("pageerror", browser_problems.on_page_error)
    page.on("requestfailed", browser_problems.on_request_failed)
    page.on("response", browser_problems.on_response)
    yield page
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    # The journey's own steps passed: it still fails if the browser reported a problem on the way.
    result = yield
    problems = item.funcargs.get("browser_problems")
    if problems is not None and problems.problems:
        pytest.fail("the browser reported problems:\n  " + "\n  ".join(problems.problems), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    page = item.funcargs.get("page")
    if report.when == "call" and report.failed and page is not None and not page.is_closed():
        folder = FAILURES / re.sub(r"[^\w.-]+", "_", item.nodeid)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(folder / "page.png"), full_page=True)
            (folder / "page.html").write_text(page.content())
        except Exception as exc:  # the report must keep the journey's own failure
            report.sections.append(("browser screenshot", f"could not be saved: {exc}"))
        else:
            report.sections.append(("browser screenshot", f"{folder}/page.png (URL {page.url})"))
    return report


# --- the live server --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def static_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=root, STORAGES=STATIC_STORAGES):
        call_command("collectstatic", interactive=False, verbosity=0)
    return root


@pytest.fixture
def live_server_url(transactional_db, settings, static_root) -> Iterator[str]:
    """The product's ASGI application under uvicorn on a free port, with WhiteNoise serving collected files."""
    settings.STATIC_ROOT = static_root
    settings.STORAGES = STATIC_STORAGES
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    cache.clear()  # the lockout counters and cached principals live in the (local-memory) cache
    from vanguard.asgi import ReusedThreadASGIHandler

    # A handler of its own: its middleware (WhiteNoise's file table) is built now, from the settings above.
    with serve(ReusedThreadASGIHandler(), name="browser") as url:
        yield url
    cache.clear()


@pytest.fixture
def demo(live_server_url) -> dict[str, str]:
    """The demo book (`manage.py seed`) with every demo login's password set to PASSWORD; returns role → email."""
    from vanguard.accounts.models import User
    from vanguard.seeding import staff

    call_command("seed", stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0)
    logins = {}
    for spec in staff.DEMO_STAFF:
        user = User.objects.get(email=spec.email)
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
        logins[spec.role or "superuser"] = spec.email
    return logins


# --- helpers for the journeys -------------------------------------------------------------------------------
def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/admin/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def tour(page, name: str) -> None:
    """Save a README tour picture when SAVE_SCREENSHOTS is set (never on an ordinary run)."""
    if os.environ.get("SAVE_SCREENSHOTS"):
        TOUR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(TOUR / f"{name}.png"))
