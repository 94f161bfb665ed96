"""One regression test per class of input the schema fuzzer found (issue 8; tests/fuzz runs the fuzzer itself)."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from asgiref.sync import async_to_sync

from claims.models import Claim, ClaimDocument
from customers.models import Customer
from policies.models import Policy
from tests import factories
from tests.api_client import assert_problem
from tests.factories import ClaimDocumentFactory, ClaimFactory, CustomerFactory, PolicyFactory
from vanguard.accounts import roles
from vanguard.api_support.schemas import DATE_TIME_PATTERN

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    return client.get("/api/openapi.json").json()


def _policy_body(customer, **over):
    return {
        "customer_id": str(customer.pk),
        "policy_type": "auto",
        "premium_amount": "500.00",
        "coverage_amount": "50000.00",
        "start_date": "2024-01-01T00:00:00Z",
        "end_date": "2025-01-01T00:00:00Z",
        **over,
    }


@pytest.mark.parametrize("offset", ["+16:00", "-16:00", "+23:59", "-23:07"])
def test_a_utc_offset_of_16_hours_or_more_is_read_not_a_500(api_as, superuser, offset):
    api = api_as(superuser)
    for path, name in (
        ("/api/customers", "created_before"),
        ("/api/policies", "active_on"),
        ("/api/claims", "incident_before"),
        ("/api/audit-logs", "until"),
    ):
        assert api.get(path, {name: f"2023-06-16T18:57:21{offset}"}).status_code == 200, path
    body = _policy_body(
        CustomerFactory(), start_date=f"2024-01-01T00:00:00{offset}", end_date=f"2025-01-01T00:00:00{offset}"
    )
    assert api.post("/api/policies", body).status_code == 201


@pytest.mark.parametrize(
    "value",
    [
        1767225600,
        0.5,
        "1767225600",
        "0.5",
        "2024-06-15 10:30:00Z",
        "2024-06-15T10:30:00",
        "1899-12-31T00:00:00Z",
        "3000-01-01T00:00:00Z",
    ],
)
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
        "$ref": "#/components/schemas/Money"
    }
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
        "POST",
        f"/api/claims/{claim.pk}/documents",
        b"--x\r\n",
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert_problem(response, 400, "BAD_REQUEST")


def test_an_upload_with_an_unknown_part_is_refused_and_stores_nothing(api_as, adjuster):
    # Stateful fuzzing sent extra parts (one holding a NUL) that the document allowed: the form is now as strict
    # as a JSON body, documented and enforced.
    from django.core.files.uploadedfile import SimpleUploadedFile

    schema = api_as(adjuster).get("/api/openapi.json").json()
    assert schema["components"]["schemas"]["DocumentUpload"]["additionalProperties"] is False
    claim = ClaimFactory()
    for extra in ({"documnet_type": "photo"}, {"x": "a\x00b"}, {"file2": SimpleUploadedFile("b.png", b"\x89PNG")}):
        response = api_as(adjuster).call(
            "POST",
            f"/api/claims/{claim.pk}/documents",
            {"file": SimpleUploadedFile("a.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64), **extra},
            content_type="multipart/form-data",
        )
        assert_problem(response, 422, "VALIDATION_ERROR")
    assert not ClaimDocument.objects.filter(claim=claim).exists()


@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_api_path_is_a_problem_document_in_every_mode(api_as, superuser, settings, debug):
    settings.DEBUG = debug
    api = api_as(superuser)
    assert_problem(api.get("/api/no-such-thing"), 404, "NOT_FOUND")
    assert_problem(api.get("/api/customers/00000000-0000-4000-8000-000000000000/nothing"), 404, "NOT_FOUND")


def test_messages_carry_no_validation_library_prefix(api_as, superuser):
    body = api_as(superuser).get("/api/customers", {"created_before": "0.5"}).json()
    assert body["errors"]["created_before"] and not any(
        m.startswith("Value error") for m in body["errors"]["created_before"]
    )


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
        "approved_amount": ["status"],
        "decision_reason": ["status"],
    }
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
        assert f'#/components/schemas/{name}"' in text, name


def test_the_problem_code_is_an_enum(schema):
    code = schema["components"]["schemas"]["ErrorResponse"]["properties"]["code"]
    assert {"VALIDATION_ERROR", "NOT_FOUND", "INTERNAL_ERROR"} <= set(code["enum"])


def test_a_policy_starting_on_1900_01_01_in_any_time_zone_is_accepted(api_as, superuser):
    body = _policy_body(CustomerFactory(), start_date="1900-01-01T00:00:00+05:00")
    assert api_as(superuser).post("/api/policies", body).status_code == 201
    assert PolicyFactory  # factories stay importable for the other tests


def test_an_end_date_before_the_stored_start_is_a_business_rule_not_a_422(api_as, superuser):
    # given a policy, and an end date that is a valid date-time but before the start the policy already has
    # (no schema can state a bound that is stored data: SPEC §3 makes that a 400)
    policy = PolicyFactory()
    too_early = (policy.start_date - dt.timedelta(days=1)).isoformat()
    api = api_as(superuser)
    # when the end date is amended, or a renewal is asked to end before its default start (the old term's end)
    amended = api.patch(f"/api/policies/{policy.pk}", {"end_date": too_early})
    renewed = api.post(f"/api/policies/{policy.pk}/renew", {"end_date": policy.end_date.isoformat()})
    # then both are 400 BUSINESS_RULE naming the end date, and nothing was written
    for response in (amended, renewed):
        assert "end date" in assert_problem(response, 400, "BUSINESS_RULE")["detail"]
    unchanged = Policy.objects.get(pk=policy.pk)
    assert unchanged.end_date == policy.end_date and not unchanged.events.exists()
    assert Policy.objects.count() == 1


@pytest.mark.parametrize("who", ["nobody", "inactive", "customer-facing"])
def test_assigning_a_claim_to_no_active_staff_user_is_a_business_rule(api_as, manager, who):
    # given a claim and an assignee id that names no user, an inactive one, or a non-staff account
    claim = ClaimFactory()
    assignee = {
        "nobody": lambda: uuid.uuid4(),
        "inactive": lambda: factories.staff(roles.CLAIMS_ADJUSTER, is_active=False).pk,
        "customer-facing": lambda: factories.UserFactory(is_staff=False).pk,
    }[who]()
    # when a manager assigns the claim to it
    response = api_as(manager).patch(f"/api/claims/{claim.pk}", {"assigned_to": str(assignee)})
    # then it is a 400 BUSINESS_RULE naming the field (like an assignee who cannot handle claims), not a 422
    # the document cannot describe, and the claim is unchanged
    assert "assigned_to" in assert_problem(response, 400, "BUSINESS_RULE")["detail"]
    assert Claim.objects.get(pk=claim.pk).assigned_to_id is None


def test_the_idempotency_key_is_documented_as_checked_and_without_a_reusable_example(api_as, superuser, schema):
    # given the document's Idempotency-Key parameter on every creating POST
    keys = [
        p
        for operations in schema["paths"].values()
        for op in operations.values()
        for p in op.get("parameters", [])
        if p["name"] == "Idempotency-Key"
    ]
    assert len(keys) == 6  # 4 creating POSTs, renew, and a claim payment
    for key in keys:
        # then it states what the server checks, and gives no value every generated request would reuse (a 422)
        assert {"minLength": 1, "maxLength": 255, "pattern": "[!-~]"}.items() <= key["schema"].items()
        assert "example" not in key and "examples" not in key
    # and a key with nothing visible in it is refused before anything is written
    body = {"email": "a@example.com", "first_name": "A", "last_name": "B", "gdpr_consent": True}
    for blank in (" ", "\t"):
        response = api_as(superuser).post("/api/customers", body, headers={"Idempotency-Key": blank})
        assert_problem(response, 422, "VALIDATION_ERROR")
    assert not Customer.objects.exists()


def test_a_reason_required_by_the_status_is_checked_with_the_body_and_documented(api_as, superuser, schema):
    # given a claim and a policy, and a stale If-Match
    claim, policy = ClaimFactory(processing=True), PolicyFactory()
    api, stale = api_as(superuser), {"If-Match": '"0123456789abcdef0123456789abcdef"'}
    # when a denial or a cancellation comes without its reason
    denied = api.patch(f"/api/claims/{claim.pk}", {"status": "denied", "decision_reason": "  "}, headers=stale)
    cancelled = api.patch(f"/api/policies/{policy.pk}", {"status": "cancelled"}, headers=stale)
    # then the body itself is refused (422), before the record and its version are looked at (not a 412)
    assert "decision_reason" in str(assert_problem(denied, 422, "VALIDATION_ERROR")["errors"])
    assert "reason" in str(assert_problem(cancelled, 422, "VALIDATION_ERROR")["errors"])
    assert Claim.objects.get(pk=claim.pk).status == "processing" and Policy.objects.get(pk=policy.pk).status == "active"
    # and the document says so: if status is that value, then the reason is required and not blank
    components = schema["components"]["schemas"]
    for name, status, field in (("ClaimUpdate", "denied", "decision_reason"), ("PolicyUpdate", "cancelled", "reason")):
        assert components[name]["if"] == {"properties": {"status": {"const": status}}, "required": ["status"]}
        assert components[name]["then"]["required"] == [field]
        assert not re.search(components[name]["then"]["properties"][field]["pattern"], "  \t")


def test_customer_search_documents_that_it_needs_an_email_or_a_national_id(schema):
    search = schema["components"]["schemas"]["CustomerSearch"]
    # an empty body is a 422 and the document says so; a value it accepts is never "nothing given"
    assert search["anyOf"] == [{"required": ["email"]}, {"required": ["ssn"]}]
    assert not re.search(search["properties"]["email"]["pattern"], " \u200b ")
    assert not re.search(search["properties"]["ssn"]["pattern"], "- -")
    assert {"type": "null"} not in search["properties"]["email"].get("anyOf", [])


def test_a_customer_email_is_documented_as_an_email(schema):
    assert schema["components"]["schemas"]["CustomerCreate"]["properties"]["email"]["format"] == "email"


def test_the_subject_access_export_is_documented_by_a_schema_it_matches(api_as, superuser, compliance_officer, schema):
    from auditlog.context import set_actor

    from customers import services as customer_services
    from customers.schemas import CustomerExport

    # given a customer with everything an export lists: consent, a changed address (a former value), a policy
    # with events, a claim with a document and a decision, audit history and a PII access
    with set_actor(superuser):
        customer = customer_services.customer_create(
            actor=superuser,
            email="grace@example.com",
            first_name="Grace",
            last_name="Hopper",
            phone="+442079460000",
            address="1 Old Street",
            ssn="123-45-6789",
            gdpr_consent=True,
        )
        customer_services.customer_update(actor=superuser, customer_id=customer.pk, address="2 New Street")
    policy = PolicyFactory(customer=customer)
    claim = ClaimFactory(policy=policy, approved=True, decision_reason="Covered")
    ClaimDocumentFactory(claim=claim)
    api_as(superuser).get(f"/api/customers/{customer.pk}")  # a PII access
    # when the API exports it
    response = api_as(compliance_officer).get(f"/api/customers/{customer.pk}/export")
    assert response.status_code == 200
    # then the real export validates against the documented schema, which forbids keys it does not name
    export = CustomerExport.model_validate_json(response.content)
    assert export.former_values and export.claims[0].documents and export.pii_accesses and export.record_history
    with pytest.raises(ValueError):
        CustomerExport.model_validate({**response.json(), "undocumented": 1})
    # and the document names it as the answer
    answer = schema["paths"]["/api/customers/{customer_id}/export"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CustomerExport"}


def test_an_audit_filter_that_can_match_nothing_is_an_empty_page_not_a_500(api_as, compliance_officer):
    # a resource_id that is no UUID cannot name a customer: the PII-access filter becomes `IN ()`, which Django
    # refuses to compile (EmptyResultSet)
    response = api_as(compliance_officer).get(
        "/api/audit-logs", {"resource_type": "pii_access", "resource_id": "not-a-uuid"}
    )
    assert response.status_code == 200 and response.json()["items"] == [] and response.json()["total"] == 0


@pytest.mark.parametrize("stale", [False, True])
@pytest.mark.parametrize(
    "body", [{}, {"status": "active"}, {"premium_amount": "500.00"}], ids=["empty", "same-status", "amend"]
)
@pytest.mark.parametrize("role", ["customer_service", "compliance_officer"])
def test_a_caller_who_may_not_change_policies_hears_403_whatever_the_patch(api_as, request, role, body, stale):
    # given customer service (it may read policies, never write them) or a compliance officer (it may record a
    # policy audit, which no PATCH reaches), with or without a stale If-Match
    policy = PolicyFactory()
    version = Policy.objects.get(pk=policy.pk).updated_at
    headers = {"If-Match": '"0123456789abcdef0123456789abcdef"'} if stale else {}
    # when it sends an empty PATCH, the status the policy already has, or an amendment
    answer = api_as(request.getfixturevalue(role)).patch(f"/api/policies/{policy.pk}", body, headers=headers)
    # then it is refused for who it is (not 200 for a no-op, not 412 for the version) and nothing is written
    assert "change policies" in assert_problem(answer, 403, "FORBIDDEN")["detail"]
    assert Policy.objects.get(pk=policy.pk).updated_at == version


@pytest.mark.parametrize("stale", [False, True])
@pytest.mark.parametrize("body", [{}, {"status": "pending"}, {"description": "Same"}], ids=["empty", "same", "edit"])
def test_a_caller_who_may_not_change_claims_hears_403_whatever_the_patch(api_as, customer_service, body, stale):
    claim = ClaimFactory(description="Same")
    version = Claim.objects.get(pk=claim.pk).updated_at
    headers = {"If-Match": '"0123456789abcdef0123456789abcdef"'} if stale else {}
    answer = api_as(customer_service).patch(f"/api/claims/{claim.pk}", body, headers=headers)
    assert "change claims" in assert_problem(answer, 403, "FORBIDDEN")["detail"]
    assert Claim.objects.get(pk=claim.pk).updated_at == version


def test_an_underwriter_may_still_send_an_empty_or_no_op_policy_patch(api_as, underwriter):
    # the door is the permission to write policies at all: a caller who holds it gets the policy back unchanged
    policy = PolicyFactory()
    api = api_as(underwriter)
    for body in ({}, {"status": "active"}):
        answer = api.patch(f"/api/policies/{policy.pk}", body)
        assert answer.status_code == 200 and answer.json()["id"] == str(policy.pk)


@pytest.mark.parametrize("stale", [False, True])
@pytest.mark.parametrize("path", ["policies", "claims"])
def test_a_caller_who_may_not_write_hears_403_for_a_missing_record(api_as, customer_service, underwriter, path, stale):
    # given an id that names nothing, with or without an If-Match
    headers = {"If-Match": '"0123456789abcdef0123456789abcdef"'} if stale else {}
    missing = f"/api/{path}/{uuid.uuid4()}"
    # when a caller who may not write these records sends a PATCH: refused for who it is, not told what exists
    assert_problem(api_as(customer_service).patch(missing, {}, headers=headers), 403, "FORBIDDEN")
    # and a caller who may write policies hears that the record is missing, not that its version is stale
    if path == "policies":
        assert_problem(api_as(underwriter).patch(missing, {}, headers=headers), 404)
