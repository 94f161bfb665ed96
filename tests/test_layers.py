"""The layers of docs/architecture.md, checked on the source: imports run downward only.

    composition   vanguard.api, api_support, admin, dashboard, health, seeding, management, urls, middleware
    apps          vanguard.accounts ← customers ← policies ← claims      (compliance may read every app)
    foundation    vanguard.core (and the outbox it enqueues through)

A domain module (models, services, selectors, tasks, events, erasure, and the packages of those names) imports its
own app, the apps below it and the foundation — never an app above it or the composition layer. The foundation
imports no app at all. Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("vanguard.accounts", "customers", "policies", "claims", "compliance")  # bottom to top
DOMAIN_MODULES = frozenset({"models", "services", "selectors", "tasks", "events", "erasure"})
FOUNDATION = ("vanguard.core", "vanguard.outbox")
FIRST_PARTY = ("vanguard", "customers", "policies", "claims", "compliance")
# The one read of the composition layer's data a domain module may make: the erasure scrubs the sign-in log
# (LoginAttempt lives with the API's lockout in vanguard.api_support).
ALLOWED = {("compliance", "vanguard.api_support.models")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _app_of(module: str) -> str | None:
    return next(
        (app for app in sorted(APPS, key=len, reverse=True) if module == app or module.startswith(app + ".")), None
    )


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.split(".")[0] in FIRST_PARTY]


def _sources(*packages: str) -> list[Path]:
    files = []
    for package in packages:
        base = ROOT.joinpath(*package.split("."))
        files += [p for p in base.rglob("*.py") if "migrations" not in p.parts]
    return sorted(files)


def _is_domain(path: Path, app: str) -> bool:
    inside = path.relative_to(ROOT.joinpath(*app.split("."))).with_suffix("").parts
    return any(part in DOMAIN_MODULES for part in inside)


def _allowed(app: str, target: str) -> bool:
    if target.startswith(FOUNDATION) or (app, target) in ALLOWED:
        return True
    target_app = _app_of(target)
    if target_app is None:
        return False  # the composition layer
    return app == "compliance" or APPS.index(target_app) <= APPS.index(app)


def test_the_foundation_imports_no_app():
    wrong = [
        f"{_module_name(path)}:{line} imports {name}"
        for path in _sources("vanguard.core")
        for line, name in _imports(path)
        if not name.startswith(FOUNDATION)
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("app", APPS)
def test_domain_modules_import_only_downward(app):
    wrong = []
    for path in _sources(app):
        if not _is_domain(path, app):
            continue
        wrong += [
            f"{_module_name(path)}:{line} imports {name}" for line, name in _imports(path) if not _allowed(app, name)
        ]
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_an_upward_import(tmp_path):
    # The rule itself: a customers service importing claims, or a selector importing the API mount, is caught.
    assert not _allowed("customers", "claims.models")
    assert not _allowed("policies", "vanguard.api")
    assert not _allowed("claims", "vanguard.api_support.writes")
    assert _allowed("claims", "policies.selectors") and _allowed("compliance", "claims.models")
    assert _allowed("customers", "vanguard.core.errors")
