"""/api/customers (SPEC §3, §2.2, §7.2, §7.3)."""

from __future__ import annotations

import pytest

from compliance.models import AuditEntry, PIIAccessLog
from customers.models import Customer
from customers.pii import NATIONAL_ID_ERROR
from customers.schemas import CustomerPage, CustomerResponse
from tests.api_client import assert_problem
from tests.factories import ClaimFactory, CustomerFactory, PolicyFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW = {
    "email": "Ada@Example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "+442071234567",
    "date_of_birth": "1985-12-10",
    "address": "1 Analytical Row",
    "ssn": "123-45-6789",
    "gdpr_consent": True,
}


def test_create_returns_201_with_the_response_schema(api_as, customer_service):
    # when
    response = api_as(customer_service).post("/api/customers", NEW)
    # then
    assert response.status_code == 201, response.content
    body = CustomerResponse.model_validate(response.json())
    assert body.email == "ada@example.com"
    assert body.ssn_last4 == "6789"
    assert "ssn" not in response.json()
    assert body.pii_encrypted is True
    assert body.gdpr_consent_date is not None and body.data_retention_date is not None
    assert Customer.objects.get(pk=body.id).ssn == "123-45-6789"


def test_create_is_audited_with_actor_remote_addr_and_correlation_id(api_as, customer_service):
    # when
    response = api_as(customer_service, remote_addr="10.1.2.3").post(
        "/api/customers", NEW, headers={"X-Request-ID": "req-create-1"}
    )
    # then
    entry = AuditEntry.objects.get(object_pk=response.json()["id"], action=AuditEntry.Action.CREATE)
    assert entry.actor == customer_service
    assert entry.remote_addr == "10.1.2.3"
    assert entry.cid == "req-create-1"
    assert entry.changes["phone"] == ["None", "[redacted]"] or "[redacted]" in str(entry.changes["phone"])


def test_create_without_consent_is_400(api_as, customer_service):
    response = api_as(customer_service).post("/api/customers", {**NEW, "gdpr_consent": False})
    assert_problem(response, 400, "BUSINESS_RULE")
    assert not Customer.objects.exists()


def test_create_with_a_duplicate_email_in_another_case_is_409(api_as, customer_service):
    CustomerFactory(email="ada@example.com")
    assert_problem(api_as(customer_service).post("/api/customers", NEW), 409, "CONFLICT")


@pytest.mark.parametrize(
    "email",
    [
        "ada@example.com\u200b",
        "\u200bADA@example.com",
        "ada@exam\u00adple.com",
        "\uff41\uff44\uff41\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",
        "ada@example.com\u2060",
        " ada@example.com\u00a0",
    ],
)
def test_create_with_a_look_alike_of_an_existing_email_is_409(api_as, customer_service, email):
    # given
    CustomerFactory(email="ada@example.com")
    # when
    response = api_as(customer_service).post("/api/customers", {**NEW, "email": email})
    # then
    assert_problem(response, 409, "CONFLICT")
    assert Customer.objects.count() == 1


def test_create_stores_the_plain_form_of_a_look_alike_email(api_as, customer_service):
    response = api_as(customer_service).post("/api/customers", {**NEW, "email": "\ufeffAda@Example.com\u200b"})
    assert response.status_code == 201, response.content
    assert response.json()["email"] == "ada@example.com"
    assert Customer.objects.get().email == "ada@example.com"


def test_the_email_filter_matches_a_look_alike(api_as, customer_service):
    ada = CustomerFactory(email="ada@example.com")
    body = api_as(customer_service).get("/api/customers", {"email": "ADA@example.com\u200b"}).json()
    assert [item["id"] for item in body["items"]] == [str(ada.pk)]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("first_name", ""),
        ("first_name", "x" * 101),
        ("phone", "12 34"),
        ("date_of_birth", "2999-01-01"),
        ("gdpr_consent", "maybe"),
        ("address", "x" * 501),
    ],
)
def test_create_with_an_invalid_field_is_422_naming_it(api_as, customer_service, field, value):
    response = api_as(customer_service).post("/api/customers", {**NEW, field: value})
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert field in body["errors"]
    assert not Customer.objects.exists()


def test_create_without_permission_is_403(api_as, underwriter):
    assert_problem(api_as(underwriter).post("/api/customers", NEW), 403, "FORBIDDEN")


def test_detail_shows_pii_in_clear_with_view_pii_and_logs_the_access(api_as, customer_service):
    # given
    customer = CustomerFactory(phone="+442071234567", address="1 Analytical Row", ssn="987-65-4321")
    # when
    response = api_as(customer_service, remote_addr="10.9.9.9").get(f"/api/customers/{customer.pk}")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["phone"] == "+442071234567"
    assert body["address"] == "1 Analytical Row"
    assert body["date_of_birth"] == "1980-05-17"
    assert body["ssn_last4"] == "4321"
    assert body["pii_masked"] is False
    assert response["ETag"]
    log = PIIAccessLog.objects.get(customer=customer)
    assert log.actor == customer_service
    assert log.interface == "api"
    assert log.remote_addr == "10.9.9.9"
    assert sorted(log.fields) == ["address", "date_of_birth", "phone"]


def test_detail_masks_pii_without_view_pii_and_logs_nothing(api_as):
    # given
    from django.contrib.auth.models import Permission

    viewer = UserFactory()
    viewer.user_permissions.add(Permission.objects.get(codename="view_customer"))
    customer = CustomerFactory(phone="+442071234567")
    # when
    body = api_as(viewer).get(f"/api/customers/{customer.pk}").json()
    # then
    assert body["phone"] == "+44 ****** 567"
    assert body["address"] == "••••••"
    assert body["date_of_birth"] is None
    assert body["pii_masked"] is True
    assert not PIIAccessLog.objects.exists()


def test_detail_of_an_unknown_customer_is_404(api_as, customer_service):
    import uuid

    assert_problem(api_as(customer_service).get(f"/api/customers/{uuid.uuid4()}"), 404, "NOT_FOUND")


def test_detail_with_a_malformed_id_is_422_naming_the_parameter(api_as, customer_service):
    body = assert_problem(api_as(customer_service).get("/api/customers/not-a-uuid"), 422, "VALIDATION_ERROR")
    assert "customer_id" in body["errors"]


def test_an_unknown_api_url_is_a_404_problem(api_as, customer_service):
    assert_problem(api_as(customer_service).get("/api/no-such-thing"), 404, "NOT_FOUND")


def test_list_is_paged_newest_first_with_masked_contact_data(api_as, customer_service):
    # given
    customers = [CustomerFactory() for _ in range(3)]
    # when
    response = api_as(customer_service).get("/api/customers", {"page": 1, "page_size": 2})
    # then
    page = CustomerPage.model_validate(response.json())
    assert (page.total, page.page, page.page_size, page.total_pages) == (3, 1, 2, 2)
    assert (page.has_next, page.has_previous) == (True, False)
    assert [c.id for c in page.items] == [customers[2].pk, customers[1].pk]
    assert all(item.pii_masked for item in page.items)
    last = api_as(customer_service).get("/api/customers", {"page": 2, "page_size": 2}).json()
    assert [c["id"] for c in last["items"]] == [str(customers[0].pk)]
    assert (last["has_next"], last["has_previous"]) == (False, True)
    beyond = api_as(customer_service).get("/api/customers", {"page": 9, "page_size": 2}).json()
    assert beyond["items"] == [] and beyond["total"] == 3


def test_list_filters(api_as, customer_service):
    # given
    ada = CustomerFactory(email="ada@example.com", first_name="Ada", last_name="Lovelace")
    CustomerFactory(email="alan@example.com", first_name="Alan", last_name="Turing")
    client = api_as(customer_service)

    def ids(**query):
        return [c["id"] for c in client.get("/api/customers", query).json()["items"]]

    # then
    assert ids(email="ADA@example.com") == [str(ada.pk)]
    assert ids(first_name="ad") == [str(ada.pk)]
    assert ids(last_name="love") == [str(ada.pk)]
    assert ids(search="lovelace") == [str(ada.pk)]
    assert len(ids(search="example.com")) == 2
    assert len(ids(gdpr_consent="true")) == 2
    assert ids(gdpr_consent="false") == []
    assert ids(created_before="2000-01-01T00:00:00Z") == []
    assert len(ids(created_after="2000-01-01T00:00:00Z")) == 2


@pytest.mark.parametrize(
    "query",
    [
        {"page": 0},
        {"page_size": 0},
        {"page_size": 101},
        {"page": "x"},
        {"created_after": "yesterday"},
        {"gdpr_consent": "perhaps"},
        {"page": "9" * 40},
    ],
)
def test_list_with_bad_query_parameters_is_422(api_as, customer_service, query):
    assert_problem(api_as(customer_service).get("/api/customers", query), 422)


def test_update_changes_allowed_fields_and_records_consent_withdrawal(api_as, customer_service):
    # given
    customer = CustomerFactory()
    # when
    response = api_as(customer_service).patch(
        f"/api/customers/{customer.pk}", {"first_name": "Grace", "phone": "+15551234567", "gdpr_consent": False}
    )
    # then
    assert response.status_code == 200, response.content
    customer.refresh_from_db()
    assert customer.first_name == "Grace"
    assert customer.phone == "+15551234567"
    assert customer.gdpr_consent is False and customer.gdpr_consent_withdrawn_at is not None


def test_update_of_a_field_that_cannot_change_is_422(api_as, customer_service):
    customer = CustomerFactory()
    assert_problem(api_as(customer_service).patch(f"/api/customers/{customer.pk}", {"email": "x@y.z"}), 422)


def test_update_of_an_erased_customer_is_409(api_as, customer_service, compliance_officer):
    # given
    customer = CustomerFactory()
    assert api_as(compliance_officer).delete(f"/api/customers/{customer.pk}/gdpr-delete").status_code == 200
    # then
    assert_problem(api_as(customer_service).patch(f"/api/customers/{customer.pk}", {"first_name": "X"}), 409)


def test_stale_if_match_is_412_and_changes_nothing(api_as, customer_service):
    # given
    customer = CustomerFactory(first_name="Ada")
    client = api_as(customer_service)
    etag = client.get(f"/api/customers/{customer.pk}")["ETag"]
    fresh = client.patch(f"/api/customers/{customer.pk}", {"first_name": "Grace"}, headers={"If-Match": etag})
    assert fresh.status_code == 200
    # when
    stale = client.patch(f"/api/customers/{customer.pk}", {"first_name": "Marie"}, headers={"If-Match": etag})
    # then
    assert_problem(stale, 412, "PRECONDITION_FAILED")
    customer.refresh_from_db()
    assert customer.first_name == "Grace"
    assert fresh["ETag"] != etag
    again = client.patch(f"/api/customers/{customer.pk}", {"first_name": "Marie"}, headers={"If-Match": fresh["ETag"]})
    assert again.status_code == 200


def test_export_needs_the_compliance_permission(api_as, customer_service, compliance_officer):
    # given
    customer = CustomerFactory()
    PolicyFactory(customer=customer)
    # then
    assert_problem(api_as(customer_service).get(f"/api/customers/{customer.pk}/export"), 403)
    response = api_as(compliance_officer).get(f"/api/customers/{customer.pk}/export")
    assert response.status_code == 200
    assert customer.email in response.content.decode()


def test_gdpr_delete_erases_and_answers_the_spec_shape(api_as, compliance_officer):
    # given
    customer = CustomerFactory()
    # when
    response = api_as(compliance_officer).delete(f"/api/customers/{customer.pk}/gdpr-delete")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(customer.pk) and body["status"] == "erased" and body["erased_at"]
    customer.refresh_from_db()
    assert customer.first_name == "Erased"


def test_gdpr_delete_under_legal_hold_is_409_with_the_reason(api_as, compliance_officer):
    # given
    claim = ClaimFactory()
    customer = claim.policy.customer
    # when
    response = api_as(compliance_officer).delete(f"/api/customers/{customer.pk}/gdpr-delete")
    # then
    body = assert_problem(response, 409, "CONFLICT")
    assert "polic" in body["detail"].lower() or "claim" in body["detail"].lower()
    customer.refresh_from_db()
    assert customer.erased_at is None


def test_gdpr_delete_without_permission_is_403(api_as, customer_service):
    customer = CustomerFactory()
    assert_problem(api_as(customer_service).delete(f"/api/customers/{customer.pk}/gdpr-delete"), 403)


# --- POST /api/customers/search: e-mail and national id in the body, never in the URL (issue 12, item 3) ----

SEARCH = "/api/customers/search"


def test_search_by_email_finds_the_customer_as_a_masked_page(api_as, customer_service):
    # given
    ada = CustomerFactory(email="ada@example.com", phone="+442071234567")
    CustomerFactory(email="alan@example.com")
    # when
    response = api_as(customer_service).post(SEARCH, {"email": "\u200bADA@Example.com"})
    # then: the list's page shape, masked like the list, and no PII access row (nothing shown in clear)
    assert response.status_code == 200, response.content
    page = CustomerPage.model_validate(response.json())
    assert [item.id for item in page.items] == [ada.pk]
    assert (page.total, page.page, page.total_pages, page.has_next) == (1, 1, 1, False)
    item = response.json()["items"][0]
    assert item["pii_masked"] is True and item["phone"] == "+44 ****** 567" and item["date_of_birth"] is None
    assert "ssn" not in item
    assert not PIIAccessLog.objects.exists()


@pytest.mark.parametrize("typed", ["987-65-4321", "987 65 4321", "987654321"])
def test_search_by_national_id_uses_the_blind_index(api_as, customer_service, typed):
    # given
    target = CustomerFactory(ssn="987-65-4321")
    CustomerFactory(ssn="123-45-6789")
    CustomerFactory(ssn="")
    # when
    body = api_as(customer_service).post(SEARCH, {"ssn": typed}).json()
    # then
    assert [item["id"] for item in body["items"]] == [str(target.pk)]
    assert body["items"][0]["ssn_last4"] == "4321"
    assert not PIIAccessLog.objects.exists()


def test_search_by_both_needs_both_to_match(api_as, customer_service):
    # given
    ada = CustomerFactory(email="ada@example.com", ssn="987-65-4321")
    client = api_as(customer_service)
    # then
    assert client.post(SEARCH, {"email": "ada@example.com", "ssn": "987654321"}).json()["total"] == 1
    assert client.post(SEARCH, {"email": "ada@example.com", "ssn": "111-22-3333"}).json()["total"] == 0
    assert client.post(SEARCH, {"email": "x@example.com", "ssn": "987654321"}).json()["total"] == 0
    assert ada.pk


def test_search_is_paged_like_the_list(api_as, customer_service):
    # given
    older, newer = CustomerFactory(ssn="555-55-5555"), CustomerFactory(ssn="555 55 5555")
    # when
    first = api_as(customer_service).post(f"{SEARCH}?page=1&page_size=1", {"ssn": "555555555"}).json()
    # then
    assert [item["id"] for item in first["items"]] == [str(newer.pk)]
    assert (first["total"], first["total_pages"], first["has_next"]) == (2, 2, True)
    assert older.pk


def test_an_erased_customer_is_not_found_by_an_empty_hash(api_as, customer_service, compliance_officer):
    # given: an erased customer has no national id (and so an empty hash)
    customer = CustomerFactory(email="gone@example.com")
    assert api_as(compliance_officer).delete(f"/api/customers/{customer.pk}/gdpr-delete").status_code == 200
    # then
    assert api_as(customer_service).post(SEARCH, {"ssn": "----"}).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": ""},
        {"ssn": ""},
        {"email": " \u200b ", "ssn": "- -"},
        {"email": None, "ssn": None},
        {"name": "Ada"},
        {"ssn": "1" * 33},
        {"email": "a" * 255},
    ],
)
def test_search_without_an_email_or_a_national_id_is_422(api_as, customer_service, body):
    CustomerFactory()
    assert_problem(api_as(customer_service).post(SEARCH, body), 422, "VALIDATION_ERROR")


def test_search_needs_the_view_permission(api_as):
    # given: a staff user with no role
    nobody = UserFactory()
    CustomerFactory(email="ada@example.com")
    # then
    assert_problem(api_as(nobody).post(SEARCH, {"email": "ada@example.com"}), 403, "FORBIDDEN")
    assert_problem(api_as(None).post(SEARCH, {"email": "ada@example.com"}), 401)


def test_search_is_read_only_for_every_role_that_views_customers(api_as, underwriter, adjuster):
    ada = CustomerFactory(email="ada@example.com")
    for user in (underwriter, adjuster):
        assert api_as(user).post(SEARCH, {"email": "ada@example.com"}).json()["items"][0]["id"] == str(ada.pk)


def test_get_on_the_search_path_is_not_a_customer_id(api_as, customer_service):
    response = api_as(customer_service).get(SEARCH)
    assert response.status_code in (404, 405)
    assert response["Content-Type"] == "application/problem+json"


def test_the_email_query_filter_still_works_and_is_documented_as_deprecated(api_as, customer_service, client):
    # given
    ada = CustomerFactory(email="ada@example.com")
    # when
    listed = api_as(customer_service).get("/api/customers", {"email": "ada@example.com"}).json()
    schema = client.get("/api/openapi.json").json()
    # then
    assert [item["id"] for item in listed["items"]] == [str(ada.pk)]
    parameters = {p["name"]: p for p in schema["paths"]["/api/customers"]["get"]["parameters"]}
    assert parameters["email"].get("deprecated") is True
    assert "/api/customers/search" in parameters["email"]["description"]
    assert not parameters["last_name"].get("deprecated")
    search = schema["paths"]["/api/customers/search"]["post"]
    assert {"200", "401", "403", "422"} <= search["responses"].keys()
    assert {p["name"] for p in search.get("parameters", [])} <= {"page", "page_size", "cursor"}  # none personal


# --- no personal value in any log line, whatever the URL carries ----------------------------------------


class _Records:
    """Every log record of the requests, as the production (JSON) and development (plain) formatters write them."""

    def __init__(self):
        import logging

        self.records: list[logging.LogRecord] = []
        self.handler = logging.Handler(level=logging.DEBUG)
        self.handler.emit = self.records.append

    def holding(self, value: str) -> list[str]:
        """The loggers of the records whose written line holds `value`."""
        from vanguard.logging import JsonFormatter, PlainFormatter

        json_format, plain = JsonFormatter(), PlainFormatter("%(levelname)s %(name)s [%(request_id)s] %(message)s")
        return [r.name for r in self.records if value in json_format.format(r) + plain.format(r)]


@pytest.fixture
def raw_log():
    import logging

    captured = _Records()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(captured.handler)
    root.setLevel(logging.DEBUG)
    try:
        yield captured
    finally:
        root.removeHandler(captured.handler)
        root.setLevel(previous)


def test_no_log_line_holds_a_national_id_or_an_email_from_the_query_string(api_as, customer_service, client, raw_log):
    # given
    ssn, email = "987-65-4321", "zebulon.quagmire@example.org"
    CustomerFactory(email=email, ssn=ssn)
    client.force_login(customer_service)
    api = api_as(customer_service)
    # when: every way a value can reach a URL, including answers that log a warning (404, 422)
    api.get("/api/customers", {"email": email})
    api.get("/api/customers", {"search": email, "last_name": ssn})
    api.get("/api/customers", {"email": email, "page": "x"})
    api.get("/api/no-such-thing", {"email": email, "ssn": ssn, "id": "987654321"})
    api.post(f"{SEARCH}?email={email}", {"ssn": ssn})
    client.get("/admin/customers/customer/", {"q": "987654321"})
    client.get("/admin/customers/customer/", {"q": email})
    client.post("/admin/customers/customer/search/", {"q": ssn}, follow=True)
    client.get("/admin/no-such-page/", {"q": "987654321", "email": email})
    # then: the access lines were written, and no line holds either value, not even in a form that the
    # formatters' redaction patterns do not recognise (an SSN without dashes, a URL-encoded e-mail)
    assert sum(r.name == "vanguard.access" for r in raw_log.records) >= 9
    for value in ("987654321", email.replace("@", "%40"), "zebulon.quagmire"):
        assert raw_log.holding(value) == [], value


def test_servers_write_no_access_line_of_their_own():
    """runserver logs its request line, query string included, on `django.server`; uvicorn (standalone or in
    gunicorn's workers) on `uvicorn.access`. Both are silenced in LOGGING: the request-id middleware writes the one
    access line, without query strings."""
    import logging

    assert not logging.getLogger("django.server").isEnabledFor(logging.CRITICAL - 1)
    access = logging.getLogger("uvicorn.access")
    assert not access.hasHandlers() or not access.isEnabledFor(logging.CRITICAL - 1)


@pytest.mark.parametrize("ssn", ["12", "123-456-789", "AB123456E"])
def test_create_with_a_malformed_national_id_is_422(api_as, customer_service, ssn):
    # given: the format rule lives in the model field (customers.pii.validate_national_id), so the API refuses too
    # when
    response = api_as(customer_service).post("/api/customers", {**NEW, "ssn": ssn})
    # then: 422 naming the field with one fixed message (it cannot carry the value); nothing written
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert body["errors"] == {"ssn": [NATIONAL_ID_ERROR]}
    assert not Customer.objects.exists()
