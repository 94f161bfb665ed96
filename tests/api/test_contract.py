"""The OpenAPI contract: snapshot, schema names, auth on every path, docs without a CDN (SPEC §3).

Regenerate the snapshot after a deliberate contract change:
    UPDATE_OPENAPI_SNAPSHOT=1 .venv/bin/pytest tests/api/test_contract.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.api_client import assert_problem

SNAPSHOT = Path(__file__).with_name("openapi_snapshot.json")
PUBLIC = {("post", "/api/auth/login"), ("post", "/api/auth/refresh")}
SCHEMA_NAMES = {
    "CustomerCreate",
    "CustomerUpdate",
    "CustomerResponse",
    "PolicyCreate",
    "PolicyUpdate",
    "PolicyResponse",
    "ClaimCreate",
    "ClaimUpdate",
    "ClaimResponse",
    "DocumentResponse",
    "Token",
    "ErrorResponse",
    "AuditLogResponse",
}


@pytest.fixture
def schema(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_openapi_matches_the_committed_snapshot(schema):
    rendered = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_OPENAPI_SNAPSHOT"):
        SNAPSHOT.write_text(rendered)
    assert rendered == SNAPSHOT.read_text(), "contract changed: see this module's docstring to regenerate"


def test_title_version_and_schema_names(schema):
    assert schema["info"]["title"] == "Vanguard Insurance API"
    assert schema["info"]["version"] == "1.0.0"
    assert set(schema["components"]["schemas"]) >= SCHEMA_NAMES


def test_error_responses_are_documented_as_problem_documents(schema):
    media = {
        status: set(response.get("content", {}))
        for operations in schema["paths"].values()
        for operation in operations.values()
        for status, response in operation["responses"].items()
    }
    assert media  # the document has responses at all
    for status, types in media.items():
        if status == "default" or int(status) >= 400:  # default: 405 and 500
            assert types == {"application/problem+json"}, (status, types)
        elif types:
            assert "application/problem+json" not in types


def test_the_edge_answers_are_documented_on_every_operation(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert "503" in operation["responses"], (method, path)
            if method in ("post", "patch"):
                assert {"413", "415"} <= operation["responses"].keys(), (method, path)


def test_collections_have_no_trailing_slash(schema):
    assert {"/api/customers", "/api/policies", "/api/claims", "/api/audit-logs"} <= set(schema["paths"])
    assert not [p for p in schema["paths"] if p.endswith("/")]


@pytest.mark.django_db
def test_every_path_answers_401_without_a_token(api_as, schema, settings):
    settings.API_RATE_LIMIT_ANON = "1000/m"  # one anonymous caller visits every operation: more than 20 of them
    anonymous = api_as(None)
    checked = 0
    for path, operations in schema["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)
        for method in operations:
            if (method, path) in PUBLIC:
                continue
            response = anonymous.call(method.upper(), concrete, {} if method != "get" else None)
            assert_problem(response, 401, "UNAUTHORIZED")
            assert response["WWW-Authenticate"].startswith("Bearer")
            checked += 1
    assert checked >= 21  # every operation but login and refresh, each a 401 (not a 429 from the anon rate limit)


def test_docs_are_served_from_local_static_files(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "//unpkg" not in html


def test_docs_are_staff_only_when_not_public(client, settings, customer_service):
    settings.API_DOCS_PUBLIC = False
    from importlib import reload

    import vanguard.api
    import vanguard.urls

    try:
        reload(vanguard.api)
        reload(vanguard.urls)
        from django.urls import clear_url_caches

        clear_url_caches()
        assert client.get("/api/docs").status_code == 302
        client.force_login(customer_service)
        assert client.get("/api/docs").status_code == 200
    finally:
        settings.API_DOCS_PUBLIC = True
        reload(vanguard.api)
        reload(vanguard.urls)
        clear_url_caches()
