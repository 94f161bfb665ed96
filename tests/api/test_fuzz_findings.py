"""One regression test per class of input the schema fuzzer found (issue 8; tests/fuzz runs the fuzzer itself)."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync

from claims.models import Claim
from customers.models import Customer
from policies.models import Policy
from tests.api.conftest import assert_problem
from tests.factories import ClaimDocumentFactory, ClaimFactory, CustomerFactory, PolicyFactory
from vanguard.api_support.schemas import DATE_TIME_PATTERN

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    return client.get("/api/openapi.json").json()


def _policy_body(customer, **over):
    return {"customer_id": str(customer.pk), "policy_type": "auto", "premium_amount": "500.00",
            "coverage_amount": "50000.00", "start_date": "2024-01-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z",
            **over}


@pytest.mark.parametrize("offset", ["+16:00", "-16:00", "+23:59", "-23:07"])
def test_a_utc_offset_of_16_hours_or_more_is_read_not_a_500(api_as, superuser, offset):
    api = api_as(superuser)
    for path, name in (("/api/customers", "created_before"), ("/api/policies", "active_on"),
                       ("/api/claims", "incident_before"), ("/api/audit-logs", "until")):
        assert api.get(path, {name: f"2023-06-16T18:57:21{offset}"}).status_code == 200, path
    body = _policy_body(CustomerFactory(), start_date=f"2024-01-01T00:00:00{offset}",
                        end_date=f"2025-01-01T00:00:00{offset}")
    assert api.post("/api/policies", body).status_code == 201


@pytest.mark.parametrize("value", [1767225600, 0.5, "1767225600", "0.5", "2024-06-15 10:30:00Z",
                                   "2024-06-15T10:30:00", "1899-12-31T00:00:00Z", "3000-01-01T00:00:00Z"])
def test_a_date_time_is_an_rfc3339_string_in_the_documented_years(api_as, superuser, value):
    api = api_as(superuser)
    assert_problem(api.post("/api/policies", _policy_body(CustomerFactory(), start_date=value)), 422)
    assert not Policy.objects.exists()
    if isinstance(value, str):
        assert_problem(api.get("/api/customers", {"created_before": value}), 422)
    assert not re.match(DATE_TIME_PATTERN, str(value))


@pytest.mark.parametrize("value", ["yes", "true", 0, 1, "1", None])
def test_consent_is_a_json_boolean_and_nothing_else(api_as, customer_service, value):
    body = {"email": "a@example.com", "first_name": "A", "last_name": "B", "gdpr_consent": value}
    assert_problem(api_as(customer_service).post("/api/customers", body), 422)
    assert not Customer.objects.exists()


@pytest.mark.parametrize("value", ["yes", "1", "0", "on", "t"])
def test_a_boolean_query_parameter_is_true_or_false(api_as, customer_service, value):
    api = api_as(customer_service)
    assert_problem(api.get("/api/customers", {"gdpr_consent": value}), 422)
    assert api.get("/api/customers", {"gdpr_consent": "true"}).status_code == 200


@pytest.mark.parametrize("amount", ["", "1e3", " 150", "150.001", "0", "0.00", "-1", True, "100000000.00", 1e9])
def test_money_is_a_number_or_a_decimal_string_with_two_places(api_as, superuser, amount):
    response = api_as(superuser).post("/api/policies", _policy_body(CustomerFactory(), premium_amount=amount))
    assert_problem(response, 422)


def test_money_in_the_document_has_its_pattern_and_range(schema):
    money = schema["components"]["schemas"]["Money"]
    assert money["type"] == "string" and re.match(money["pattern"], "150.00")
    assert schema["components"]["schemas"]["PolicyResponse"]["properties"]["premium_amount"] == {
        "$ref": "#/components/schemas/Money"}
    premium = schema["components"]["schemas"]["PolicyCreate"]["properties"]["premium_amount"]["anyOf"]
    number, string = premium
    assert number["maximum"] == 99999999.99 and number["multipleOf"] == 0.01 and number["exclusiveMinimum"] == 0
    assert re.match(string["pattern"], "99999999.99") and not re.match(string["pattern"], "100000000")


def test_an_audit_filter_that_leaves_nothing_is_an_empty_page(api_as, compliance_officer):
    response = api_as(compliance_officer).get("/api/audit-logs", {"resource_type": "pii_access", "action": "create"})
    assert response.status_code == 200
    assert response.json()["items"] == [] and response.json()["total"] == 0


def test_a_multipart_body_without_a_boundary_is_a_400(api_as, adjuster):
    claim = ClaimFactory()
    api = api_as(adjuster)
    response = async_to_sync(api.client.generic)(
        "POST", f"/api/claims/{claim.pk}/documents", b"--x\r\n", content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert_problem(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_api_path_is_a_problem_document_in_every_mode(api_as, superuser, settings, debug):
    settings.DEBUG = debug
    api = api_as(superuser)
    assert_problem(api.get("/api/no-such-thing"), 404, "NOT_FOUND")
    assert_problem(api.get("/api/customers/00000000-0000-4000-8000-000000000000/nothing"), 404, "NOT_FOUND")


def test_messages_carry_no_validation_library_prefix(api_as, superuser):
    body = api_as(superuser).get("/api/customers", {"created_before": "0.5"}).json()
    assert body["errors"]["created_before"] and not any(
        m.startswith("Value error") for m in body["errors"]["created_before"])


def test_customer_update_refuses_null_where_the_document_says_so(api_as, customer_service, schema):
    customer = CustomerFactory()
    api = api_as(customer_service)
    for name in ("first_name", "last_name", "gdpr_consent"):
        assert_problem(api.patch(f"/api/customers/{customer.pk}", {name: None}), 422)
        assert "anyOf" not in schema["components"]["schemas"]["CustomerUpdate"]["properties"][name]
    # and the fields documented nullable take null (it clears them)
    assert api.patch(f"/api/customers/{customer.pk}", {"phone": None, "address": None}).status_code == 200


def test_decision_fields_need_a_status_even_when_null(api_as, manager, schema):
    claim = ClaimFactory()
    for body in ({"approved_amount": None}, {"decision_reason": "x"}, {"approved_amount": "10.00"}):
        assert_problem(api_as(manager).patch(f"/api/claims/{claim.pk}", body), 422)
    assert schema["components"]["schemas"]["ClaimUpdate"]["dependentRequired"] == {
        "approved_amount": ["status"], "decision_reason": ["status"]}
    claim.refresh_from_db()
    assert claim.status == Claim.Status.PENDING


def test_nul_in_a_text_query_is_refused_and_documented(api_as, customer_service, schema):
    assert_problem(api_as(customer_service).get("/api/customers", {"email": "a\x00b"}), 422)
    email = next(p for p in schema["paths"]["/api/customers"]["get"]["parameters"] if p["name"] == "email")
    assert not re.match(email["schema"]["pattern"], "a\x00b") and re.match(email["schema"]["pattern"], "ab")


def test_no_query_or_header_parameter_is_nullable(schema):
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                assert "null" not in str(parameter["schema"].get("anyOf", "")), parameter["name"]


def test_a_download_is_documented_with_the_types_it_is_served_as(api_as, superuser, schema):
    document = ClaimDocumentFactory()
    response = api_as(superuser).get(f"/api/claims/{document.claim_id}/documents/{document.pk}")
    operation = schema["paths"]["/api/claims/{claim_id}/documents/{document_id}"]["get"]
    assert response["Content-Type"] in operation["responses"]["200"]["content"]
    assert "application/octet-stream" not in operation["responses"]["200"]["content"]


def test_every_component_schema_is_used(schema):
    import json

    text = json.dumps(schema["paths"]) + json.dumps(schema["components"])
    for name in schema["components"]["schemas"]:
        assert f"#/components/schemas/{name}\"" in text, name


def test_the_problem_code_is_an_enum(schema):
    code = schema["components"]["schemas"]["ErrorResponse"]["properties"]["code"]
    assert {"VALIDATION_ERROR", "NOT_FOUND", "INTERNAL_ERROR"} <= set(code["enum"])


def test_a_policy_starting_on_1900_01_01_in_any_time_zone_is_accepted(api_as, superuser):
    body = _policy_body(CustomerFactory(), start_date="1900-01-01T00:00:00+05:00")
    assert api_as(superuser).post("/api/policies", body).status_code == 201
    assert PolicyFactory  # factories stay importable for the other tests
