"""A clear read of a customer and its PII access row in one statement (compliance.services.customer_read_recorded):
the row logged is exactly what pii_access_record would log after the read, and nothing when nothing is shown."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.models import PIIAccessLog
from compliance.services import customer_read_recorded
from customers import selectors
from customers.models import Customer
from tests import factories
from vanguard.core.request_context import request_id_var

pytestmark = pytest.mark.django_db

SHAPES = [
    ({"phone": "+442071234567", "date_of_birth": dt.date(1980, 1, 1), "address": "1 High St"}, None),
    ({"phone": "+442071234567", "date_of_birth": None, "address": ""}, ["phone"]),
    ({"phone": "", "date_of_birth": dt.date(1980, 1, 1), "address": ""}, ["date_of_birth"]),
    ({"phone": "", "date_of_birth": None, "address": "1 High St"}, ["address"]),
]


@pytest.mark.parametrize(("shape", "expected"), SHAPES)
def test_the_row_names_the_fields_a_clear_view_shows(superuser, shape, expected):
    # given
    customer = factories.CustomerFactory(**shape)
    token = request_id_var.set("req-123")
    try:
        # when
        read = customer_read_recorded(
            actor=superuser, customer_id=customer.pk, interface="api", remote_addr="192.0.2.7"
        )
    finally:
        request_id_var.reset(token)
    # then: the customer as the ORM reads it, decrypted
    assert (read.pk, read.phone, read.date_of_birth, read.address) == (
        customer.pk,
        shape["phone"],
        shape["date_of_birth"],
        shape["address"],
    )
    row = PIIAccessLog.objects.get(customer=customer)
    assert row.fields == (expected or sorted(selectors.CLEAR_PII_FIELDS))
    assert row.fields == sorted(selectors.clear_fields_shown(read))
    assert (row.actor, row.interface, row.remote_addr, row.request_id) == (superuser, "api", "192.0.2.7", "req-123")
    assert row.created_at is not None


def test_nothing_shown_logs_nothing(superuser):
    # given
    customer = factories.CustomerFactory(phone="", date_of_birth=None, address="")
    # when
    read = customer_read_recorded(actor=superuser, customer_id=customer.pk, interface="api")
    # then
    assert read.pk == customer.pk
    assert not PIIAccessLog.objects.exists()


def test_an_unknown_customer_is_does_not_exist_and_logs_nothing(superuser):
    with pytest.raises(Customer.DoesNotExist):
        customer_read_recorded(actor=superuser, customer_id=uuid.uuid4(), interface="api")
    assert not PIIAccessLog.objects.exists()


def test_an_unknown_interface_is_refused_before_any_read(superuser):
    customer = factories.CustomerFactory()
    with pytest.raises(ValueError, match="Unknown interface"):
        customer_read_recorded(actor=superuser, customer_id=customer.pk, interface="fax")
    assert not PIIAccessLog.objects.exists()


def test_the_read_and_its_row_are_one_statement(superuser):
    # given
    customer = factories.CustomerFactory(phone="+442071234567")
    # when
    with CaptureQueriesContext(connection) as queries:
        customer_read_recorded(actor=superuser, customer_id=customer.pk, interface="api")
    # then
    assert len(queries) == 1
    assert PIIAccessLog.objects.filter(customer=customer).count() == 1


def test_other_databases_take_the_two_steps_with_the_same_result(superuser, monkeypatch):
    # given: the same customer read once per path
    customer = factories.CustomerFactory(phone="+442071234567", date_of_birth=None, address="1 High St")
    customer_read_recorded(actor=superuser, customer_id=customer.pk, interface="api", remote_addr="192.0.2.7")
    monkeypatch.setattr(connection, "vendor", "sqlite")  # the proxy sets it on this thread's connection
    # when
    customer_read_recorded(actor=superuser, customer_id=customer.pk, interface="api", remote_addr="192.0.2.7")
    # then
    one, two = PIIAccessLog.objects.order_by("id")
    assert (one.fields, one.interface, one.remote_addr) == (two.fields, two.interface, two.remote_addr)
    assert one.fields == ["address", "phone"]


def test_the_read_is_prepared_once_its_connection_has_run_it_past_the_threshold(superuser):
    # given: PostgreSQL with the default DB_PREPARE_THRESHOLD (server-side binding; vanguard/settings.py)
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are a PostgreSQL setting")
    threshold = connection.settings_dict["OPTIONS"]["prepare_threshold"]
    assert threshold == 5 and connection.settings_dict["OPTIONS"]["server_side_binding"] is True
    customer = factories.CustomerFactory(phone="+442071234567")

    def prepared() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%INSERT INTO%pii%"])
            return cursor.fetchone()[0]

    # when: the read runs up to the threshold, then once more
    for _ in range(threshold):
        customer_read_recorded(actor=superuser, customer_id=customer.pk, interface="api")
    before = prepared()
    read = customer_read_recorded(actor=superuser, customer_id=customer.pk, interface="api")
    # then: parsed and planned by PostgreSQL once from then on, and the read is still the same read
    assert (before, prepared()) == (0, 1)
    assert read.phone == "+442071234567" and PIIAccessLog.objects.filter(customer=customer).count() == threshold + 1
