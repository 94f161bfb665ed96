"""Encrypted PII at rest (SPEC §2.2) and never in clear in the audit trail (SPEC §7.1)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from auditlog.context import set_actor
from django.core import serializers
from django.db import connection

from compliance.models import AuditEntry
from customers import pii, services
from customers.models import Customer

pytestmark = pytest.mark.django_db

PHONE, DOB, ADDRESS, SSN = "+442071234567", dt.date(1985, 12, 10), "12 Lantern Row, Harbourtown", "987-65-4321"
NEW_PHONE, NEW_ADDRESS, NEW_SSN = "+33612345678", "4 Quai des Brumes, Le Havre", "555-44-3333"
PLAINTEXTS = [PHONE, "1985-12-10", ADDRESS, SSN, "987654321", NEW_PHONE, NEW_ADDRESS, NEW_SSN, "555443333"]
ENCRYPTED = ["phone", "date_of_birth", "address", "ssn"]


def _raw_row(customer: Customer) -> dict[str, bytes | str | None]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT phone, date_of_birth, address, ssn, ssn_hash FROM customers_customer WHERE id = %s", [customer.pk]
        )
        row = cursor.fetchone()
    return dict(zip([*ENCRYPTED, "ssn_hash"], row, strict=True))


def _as_bytes(value) -> bytes:
    if value is None:
        return b""
    return bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()


@pytest.fixture
def customer(customer_service):
    with set_actor(customer_service):
        return services.customer_create(
            actor=customer_service,
            email="enc@example.test",
            first_name="Enc",
            last_name="Rypted",
            gdpr_consent=True,
            phone=PHONE,
            date_of_birth=DOB,
            address=ADDRESS,
            ssn=SSN,
        )


def test_raw_columns_never_hold_the_plaintext(customer):
    # when
    raw = _raw_row(customer)
    # then
    for name in ENCRYPTED:
        stored = _as_bytes(raw[name])
        assert stored, f"{name} is empty in the database"
        for plaintext in PLAINTEXTS:
            assert plaintext.encode() not in stored, f"{name} holds {plaintext!r} in clear"
            assert plaintext.replace("-", "").encode() not in stored
    assert raw["ssn_hash"] == pii.ssn_hash(SSN) and "6789" not in raw["ssn_hash"]


def test_the_orm_reads_the_values_back(customer):
    # when
    fresh = Customer.objects.get(pk=customer.pk)
    # then
    assert (fresh.phone, fresh.date_of_birth, fresh.address, fresh.ssn) == (PHONE, DOB, ADDRESS, SSN)


def test_two_rows_with_the_same_plaintext_differ_at_rest(customer, customer_service):
    # given: encryption is randomised, so equal values cannot be matched by comparing ciphertexts
    other = services.customer_create(
        actor=customer_service,
        email="enc2@example.test",
        first_name="Enc",
        last_name="Two",
        gdpr_consent=True,
        phone=PHONE,
    )
    # when / then
    assert _as_bytes(_raw_row(customer)["phone"]) != _as_bytes(_raw_row(other)["phone"])


def test_lookup_by_ssn_goes_through_the_blind_index(customer):
    # when
    found = Customer.objects.filter(ssn_hash=pii.ssn_hash("987 65 4321")).get()
    # then
    assert found == customer


def test_audit_trail_never_holds_encrypted_values_in_clear(customer, customer_service):
    # given: a create and an update of every encrypted field
    with set_actor(customer_service):
        services.customer_update(
            actor=customer_service,
            customer_id=customer.pk,
            phone=NEW_PHONE,
            address=NEW_ADDRESS,
            ssn=NEW_SSN,
            date_of_birth=dt.date(1986, 1, 2),
        )
    entries = list(AuditEntry.objects.get_for_object(customer))
    assert {entry.action for entry in entries} == {AuditEntry.Action.CREATE, AuditEntry.Action.UPDATE}
    # when
    dumped = [
        json.dumps(entry.changes, default=str)
        + entry.changes_text
        + json.dumps(entry.serialized_data, default=str)
        + entry.object_repr
        + json.dumps(entry.additional_data, default=str)
        for entry in entries
    ]
    dumped.append(serializers.serialize("json", entries))
    # then
    for text in dumped:
        for plaintext in [*PLAINTEXTS, "1986-01-02", pii.ssn_hash(SSN), pii.ssn_hash(NEW_SSN)]:
            assert plaintext not in text, f"audit trail holds {plaintext!r}"
    update = next(entry for entry in entries if entry.action == AuditEntry.Action.UPDATE)
    for name in ENCRYPTED:
        assert update.changes[name] == ["[redacted]", "[redacted]"], name
