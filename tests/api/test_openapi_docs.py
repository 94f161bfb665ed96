"""The OpenAPI document stands on its own as documentation (issue 8, item 4), and says what the server does."""

from __future__ import annotations

import importlib
import inspect
import json
import re

import pytest
from pydantic import BaseModel

from tests.api_client import assert_problem
from tests.factories import ClaimFactory, CustomerFactory, PolicyFactory
from vanguard.api_support.openapi import EXAMPLES

SCHEMA_MODULES = (
    "customers.schemas",
    "policies.schemas",
    "claims.schemas",
    "claims.financials.schemas",
    "compliance.schemas",
    "vanguard.api_support.schemas",
    "vanguard.accounts.api",
)
PUBLIC = {"login", "refresh"}


@pytest.fixture
def schema(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _models() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for name in SCHEMA_MODULES:
        for value in vars(importlib.import_module(name)).values():
            if inspect.isclass(value) and issubclass(value, BaseModel):
                found.setdefault(value.__name__, value)
    return found


def test_operations_have_readable_ids_descriptions_tags_and_examples(schema):
    tags = {tag["name"]: tag.get("description") for tag in schema["tags"]}
    assert all(tags.values()), tags
    ids = []
    for path, method, operation in _operations(schema):
        where = (method, path)
        ids.append(operation["operationId"])
        assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", operation["operationId"]), where
        assert len(operation.get("description", "")) > 40, where
        assert operation["tags"] and set(operation["tags"]) <= tags.keys(), where
        media = [
            *operation.get("requestBody", {}).get("content", {}).values(),
            *(
                m
                for status, r in operation["responses"].items()
                if status.startswith("2")
                for m in r.get("content", {}).values()
            ),
        ]
        examples = [m for m in media if "example" in m]
        assert examples or not any("$ref" in m.get("schema", {}) for m in media), where
    assert len(ids) == len(set(ids))
    assert {"listCustomers", "login", "listAuditLogs", "uploadClaimDocument"} <= set(ids)


def test_every_object_schema_has_an_example_that_its_model_accepts(schema):
    # given the component schemas and the Pydantic models they come from
    models = _models()
    checked = 0
    for name, component in schema["components"]["schemas"].items():
        if "enum" in component or name.endswith("Filter") or name == "PageQuery":
            continue  # enums document their values; filters and paging are flattened into query parameters
        # then each has an example
        assert component.get("examples"), f"{name}: add its example to EXAMPLES in vanguard/api_support/openapi.py"
        # and the model accepts it (as JSON), so the example cannot drift from the schema
        if name in models:
            models[name].model_validate_json(json.dumps(component["examples"][0]))
            checked += 1
    assert checked >= 15


def test_examples_are_only_for_schemas_that_exist(schema):
    assert set(EXAMPLES) <= set(schema["components"]["schemas"])


def test_the_upload_body_is_a_named_component(schema):
    body = schema["paths"]["/api/claims/{claim_id}/documents"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"] == {"$ref": "#/components/schemas/DocumentUpload"}
    assert "file" in schema["components"]["schemas"]["DocumentUpload"]["required"]


def test_security_license_servers_and_token(schema):
    assert schema["components"]["securitySchemes"]["JWTBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert schema["info"]["license"] == {"name": "Apache-2.0", "identifier": "Apache-2.0"}  # the LICENSE file
    assert schema["servers"] and all(server["url"] for server in schema["servers"])
    for _, _, operation in _operations(schema):
        expected = [] if operation["operationId"] in PUBLIC else [{"JWTBearer": []}]
        assert operation["security"] == expected, operation["operationId"]
    assert "token_type" in schema["components"]["schemas"]["Token"]["required"]


def test_every_operation_documents_its_default_answer_and_common_headers(schema):
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        default = responses["default"]
        assert "application/problem+json" in default["content"], (method, path)
        for status, response in responses.items():
            headers = response.get("headers", {})
            assert "X-Request-ID" in headers, (method, path, status)
            if status != "default":
                assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= headers.keys()
            if status in ("429", "503"):
                assert "Retry-After" in headers, (method, path, status)
    for name, header in schema["components"]["headers"].items():
        assert header["schema"] == {"type": "string"}, name
        assert header["description"], name


def test_if_match_and_idempotency_key_are_explained(schema):
    seen = {"If-Match": 0, "Idempotency-Key": 0}
    for path, method, operation in _operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["name"] in seen:
                seen[parameter["name"]] += 1
                assert parameter["description"], (method, path)
                # an If-Match example is harmless (a stale tag is a 412); an Idempotency-Key example is a key
                # every client that copies the document would reuse with other bodies (a 422), so it has none
                assert ("example" in parameter) == (parameter["name"] == "If-Match"), (method, path)
        names = {p["name"] for p in operation.get("parameters", [])}
        if "If-Match" in names:
            assert "412" in operation["responses"], (method, path)
        if "Idempotency-Key" in names:
            assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"], (method, path)
    assert seen == {"If-Match": 3, "Idempotency-Key": 6}  # 3 PATCHes; 4 creating POSTs, renew and a payment


def _etag_operations(schema):
    return [
        (path, method)
        for path, method, operation in _operations(schema)
        if "ETag" in operation["responses"].get("200", {}).get("headers", {})
    ]


def test_etag_is_documented_on_the_reads_and_patches_of_records(schema):
    assert sorted(_etag_operations(schema)) == sorted(
        (f"/api/{kind}/{{{one}_id}}", method)
        for kind, one in (("customers", "customer"), ("policies", "policy"), ("claims", "claim"))
        for method in ("get", "patch")
    )


@pytest.mark.django_db
def test_the_documented_headers_are_sent(api_as, superuser, schema):
    # given one record of each kind
    claim = ClaimFactory(policy=PolicyFactory(customer=CustomerFactory()))
    ids = {"customer_id": claim.policy.customer_id, "policy_id": claim.policy_id, "claim_id": claim.pk}
    client = api_as(superuser)
    for path, method in _etag_operations(schema):
        concrete = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
        # when the documented operation is called
        response = client.call(method.upper(), concrete, {} if method == "patch" else None)
        # then it answers with the headers its 200 documents
        assert response.status_code == 200, (method, path, response.content[:300])
        assert re.fullmatch(r'"[0-9a-f]{32}"', response["ETag"]), (method, path)
        assert response["X-Request-ID"]
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(response.headers)
    # and a stale If-Match is the documented 412
    stale = client.patch(f"/api/claims/{claim.pk}", {}, headers={"If-Match": '"' + "0" * 32 + '"'})
    assert_problem(stale, 412, "PRECONDITION_FAILED")


def test_request_bodies_state_their_defaults_in_words_so_optional_fields_stay_optional(schema):
    # openapi-typescript 7 makes a property with a `default` required in the generated type.
    bodies = {
        media["schema"]["$ref"].rsplit("/", 1)[1]
        for _, _, operation in _operations(schema)
        for media in operation.get("requestBody", {}).get("content", {}).values()
        if "$ref" in media.get("schema", {})
    }
    assert {"CustomerCreate", "ClaimCreate", "DocumentUpload"} <= bodies
    for name in bodies:
        component = schema["components"]["schemas"][name]
        for field, prop in component.get("properties", {}).items():
            assert "default" not in prop, (name, field)
    create = schema["components"]["schemas"]["CustomerCreate"]
    assert "phone" not in create["required"] and "Defaults to" in create["properties"]["phone"]["description"]
