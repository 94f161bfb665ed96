"""Structured logs (SPEC §6, §8): one JSON access line per request with request id, user id, route, status and
duration; the request id travels into tasks; no PII, password, token or key in any line."""

from __future__ import annotations

import io
import json
import logging
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from claims import services as claim_services
from tests import factories
from vanguard.core.request_context import request_id_var
from vanguard.logging import JsonFormatter, RequestIdFilter

PII = {
    "email": "zebulon.quagmire@example.org",
    "first_name": "Zebulon",
    "last_name": "Quagmirewright",
    "phone": "+447700900123",
    "date_of_birth": "1979-03-14",
    "address": "17 Larkspur Terrace, Bexhill",
    "ssn": "987-65-4321",
    "gdpr_consent": True,
}


@pytest.fixture
def json_log():
    """Root logging through the production formatter, captured."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.django_db
def test_a_full_workflow_logs_the_request_id_and_no_personal_data(
    client, superuser, json_log, django_capture_on_commit_callbacks
):
    # given
    headers = {"HTTP_X_REQUEST_ID": "req-log-0001"}
    login = client.post(
        "/api/auth/login",
        {"email": superuser.email, "password": factories.PASSWORD},
        content_type="application/json",
        **headers,
    )
    assert login.status_code == 200, login.content
    tokens = login.json()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}", **headers}

    # when: a customer is created, read, searched for and duplicated through the API, and viewed in the admin ...
    created = client.post("/api/customers", PII, content_type="application/json", **auth)
    assert created.status_code == 201, created.content
    customer_id = created.json()["id"]
    assert client.get(f"/api/customers/{customer_id}", **auth).status_code == 200
    client.get(f"/api/customers?search={PII['email']}&q={PII['last_name']}", **auth)
    duplicate = client.post("/api/customers", PII, content_type="application/json", **auth)
    assert duplicate.status_code in (400, 409, 422)
    client.get("/api/customers/not-a-uuid", **auth)
    client.force_login(superuser)
    client.get(f"/admin/customers/customer/{customer_id}/change/", **headers)
    # ... and a claim on the customer's policy moves through its workflow (the notification task runs in-process)
    policy = factories.PolicyFactory(customer_id=customer_id)
    token = request_id_var.set("req-log-0002")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            claim = claim_services.claim_create(
                actor=superuser,
                policy_id=policy.pk,
                claim_type="theft",
                claim_amount=Decimal("250.00"),
                incident_date=timezone.now(),
            )
            claim_services.claim_approve(actor=superuser, claim_id=claim.pk)
    finally:
        request_id_var.reset(token)

    # then: every line is JSON with a request id; the access lines have route, status, duration and the user
    lines = _lines(json_log)
    access = [line for line in lines if line["logger"] == "vanguard.access"]
    assert len(access) >= 6
    assert all(line["request_id"] == "req-log-0001" for line in access)
    created_line = next(line for line in access if line["method"] == "POST" and line["status"] == 201)
    assert created_line["route"].startswith("api/") and created_line["user_id"] == str(superuser.pk)
    assert isinstance(created_line["duration_ms"], float)
    assert any(line["request_id"] == "req-log-0002" and line["logger"] == "vanguard.tasks" for line in lines)
    # ... and nothing personal or secret anywhere
    text = json_log.getvalue()
    for value in [
        PII["email"],
        PII["last_name"],
        PII["phone"],
        PII["date_of_birth"],
        PII["address"],
        PII["ssn"],
        "Larkspur",
        "4321",
    ]:
        assert value not in text, value
    for secret in [
        factories.PASSWORD,
        tokens["access_token"],
        tokens["refresh_token"],
        settings.SECRET_KEY,
        settings.JWT_SIGNING_KEY,
        settings.PII_HASH_KEY,
    ]:
        assert secret not in text


def test_the_redaction_filter_catches_values_that_slip_into_messages(json_log):
    # when
    logging.getLogger("vanguard.test").error(
        "insert failed: Key (email)=(jane.roe@example.com) exists; url=redis://:s3cretpw@cache:6379/0 "
        "Authorization: Bearer abc.def.ghi ssn 123-45-6789 phone +442071234567"
    )
    # then
    text = json_log.getvalue()
    for value in ["jane.roe@example.com", "s3cretpw", "abc.def.ghi", "123-45-6789", "+442071234567"]:
        assert value not in text
    assert "[redacted]" in text


def test_development_logs_are_plain_text_and_production_logs_json():
    from vanguard.logging import PlainFormatter

    record = logging.LogRecord("vanguard.access", logging.INFO, __file__, 1, "GET %s %s", ("api/x", 200), None)
    record.request_id, record.route, record.status = "req-1", "api/x", 200
    plain = PlainFormatter("%(levelname)s [%(request_id)s] %(message)s").format(record)
    structured = json.loads(JsonFormatter().format(record))
    assert plain == "INFO [req-1] GET api/x 200"
    assert structured["request_id"] == "req-1" and structured["route"] == "api/x" and structured["status"] == 200
    expected = "json" if settings.PRODUCTION else "plain"
    assert settings.LOGGING["handlers"]["console"]["formatter"] == expected
