"""The masked columns (Customer.phone_masked, address_masked, ssn_last4): what lists show, kept in clear beside the
encrypted fields so that a list decrypts nothing. They follow every write, are cleared by an erasure, stay out of
the audit trail, and give a list exactly what masking the decrypted values gives."""

from __future__ import annotations

import datetime as dt

import pytest
from auditlog.context import set_actor
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.models import AuditEntry
from compliance.services import customer_erase
from customers import pii, selectors, services
from customers.models import Customer
from tests import factories
from vanguard.core.pagination import PageQuery

pytestmark = pytest.mark.django_db


def _stored(customer: Customer) -> tuple[str, str, str]:
    row = Customer.objects.filter(pk=customer.pk).values_list("phone_masked", "address_masked", "ssn_last4").get()
    return tuple(row)


def test_create_stores_the_masked_forms(customer_service):
    # when
    customer = services.customer_create(
        actor=customer_service,
        email="ada@example.test",
        first_name="Ada",
        last_name="Lovelace",
        gdpr_consent=True,
        phone="+442071234567",
        address="12 St James's Square, London",
        ssn="123-45-6789",
    )
    # then
    assert _stored(customer) == ("+44 ****** 567", "••••••", "6789")


def test_an_update_of_one_field_refreshes_its_mask_only_through_update_fields(customer_service):
    # given
    customer = factories.CustomerFactory(phone="+442071234567", address="", ssn="")
    assert _stored(customer) == ("+44 ****** 567", "", "")
    # when
    changes = {"phone": "+33612345678", "address": "1 Rue de Rivoli", "ssn": "987654321"}
    services.customer_update(actor=customer_service, customer_id=customer.pk, **changes)
    # then
    assert _stored(customer) == ("+33 ****** 678", "••••••", "4321")


def test_clearing_a_field_clears_its_mask(customer_service):
    # given
    customer = factories.CustomerFactory(phone="+442071234567", address="1 High Street", ssn="123-45-6789")
    # when
    services.customer_update(actor=customer_service, customer_id=customer.pk, phone="", address="", ssn="")
    # then
    assert _stored(customer) == ("", "", "")


def test_an_erasure_clears_the_masks(compliance_officer):
    # given
    customer = factories.CustomerFactory(phone="+442071234567", address="1 High Street", ssn="123-45-6789")
    # when
    customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="admin")
    # then
    assert _stored(customer) == ("", "", "")


def test_the_audit_trail_keeps_no_mask(customer_service):
    # given
    customer = factories.CustomerFactory(phone="+442071234567")
    # when
    with set_actor(customer_service):
        services.customer_update(actor=customer_service, customer_id=customer.pk, phone="+33612345678")
    # then: the phone change is recorded (masked), its derived column is not recorded at all
    entry = AuditEntry.objects.get_for_object(customer).get(action=AuditEntry.Action.UPDATE)
    assert "phone" in entry.changes
    assert not {"phone_masked", "address_masked", "ssn_last4"} & set(entry.changes)
    assert "678" not in str(entry.changes)


def test_a_list_row_is_what_masking_the_decrypted_values_gives():
    # given: every shape of contact data, empty ones included
    shapes = [
        {"phone": "+442071234567", "address": "1 High Street", "ssn": "123-45-6789"},
        {"phone": "33612345678", "address": "", "ssn": ""},
        {"phone": "", "address": "x", "ssn": "AB 12 34 56 C"},
    ]
    for shape in shapes:
        factories.CustomerFactory(date_of_birth=dt.date(1980, 1, 1), **shape)
    # when
    page = selectors.customer_list(filters=None, params=PageQuery(page=1, page_size=10))
    # then
    assert len(page["items"]) == 3
    for row in page["items"]:
        customer = Customer.objects.get(pk=row["id"])
        assert row == selectors.customer_detail(customer, clear=False)
        assert row["ssn_last4"] == pii.ssn_last4(customer.ssn)


def test_a_list_page_reads_no_encrypted_column():
    # given
    factories.CustomerFactory.create_batch(3)
    # when
    with CaptureQueriesContext(connection) as queries:
        selectors.customer_list(filters=None, params=PageQuery(page=1, page_size=10))
    # then: only the plain columns are selected (no ciphertext is fetched, so none is decrypted)
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    for column in ("phone", "address", "ssn", "date_of_birth"):
        assert f'"customers_customer"."{column}"' not in sql
    assert '"customers_customer"."phone_masked"' in sql


def test_the_migration_backfills_existing_rows():
    # given: rows written before the masked columns existed (their masks empty)
    import importlib

    from django.apps import apps

    migration = importlib.import_module("customers.migrations.0006_masked_columns")
    customers = [
        factories.CustomerFactory(phone="+442071234567", address="1 High Street", ssn="123-45-6789"),
        factories.CustomerFactory(phone="", address="", ssn=""),
    ]
    Customer.objects.update(phone_masked="", address_masked="", ssn_last4="")
    # when
    migration.backfill(apps, None)
    # then
    assert [_stored(c) for c in customers] == [("+44 ****** 567", "••••••", "6789"), ("", "", "")]
