"""Cross-app fixtures. The suite runs against PostgreSQL (DATABASE_URL); see README."""

from __future__ import annotations

import pytest
from auditlog.context import set_actor

from tests import factories
from tests.api_client import Api
from vanguard.accounts import roles


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # PBKDF2 at production cost is ~0.5 s per staff user built; the hash cost is not under test anywhere.
    # PBKDF2 stays listed so hashes made with it still verify.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


@pytest.fixture
def superuser(db):
    return factories.UserFactory(superuser=True, email="root@vanguard.test")


@pytest.fixture
def customer_service(db):
    return factories.staff(roles.CUSTOMER_SERVICE)


@pytest.fixture
def underwriter(db):
    return factories.staff(roles.UNDERWRITER)


@pytest.fixture
def adjuster(db):
    return factories.staff(roles.CLAIMS_ADJUSTER)


@pytest.fixture
def manager(db):
    return factories.staff(roles.CLAIMS_MANAGER)


@pytest.fixture
def compliance_officer(db):
    return factories.staff(roles.COMPLIANCE_OFFICER)


@pytest.fixture
def audit_actor():
    """Run a block with an auditlog actor, as the admin/API/task edges do."""
    return set_actor


@pytest.fixture
def api_as():
    """`api_as(user)` → an API client authenticated as that user (`api_as(None)`: no token); tests/api_client.py."""
    return Api


@pytest.fixture(autouse=True)
def _fresh_counters(request):
    """Rate-limit and lockout counters live in the cache: every API test starts from zero."""
    if "api_as" not in request.fixturenames and "tests/api/" not in str(request.path):
        yield
        return
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _no_remembered_estimates():
    """List estimates and compiled pages are remembered per process (vanguard.core.pagination): one test's must not
    answer another's."""
    from vanguard.core import pagination

    pagination._estimates.clear()
    pagination.forget_compiled_pages()
    yield
    pagination._estimates.clear()
    pagination.forget_compiled_pages()
