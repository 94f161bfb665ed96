"""`vanguard.core.prepared.PreparedGet`: the same instance `queryset.get(pk=...)` returns, from SQL compiled once per
connection."""

from __future__ import annotations

import gc
import threading
import uuid
import weakref
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from policies.models import Policy
from policies.selectors import CUSTOMER_SUMMARY_FIELDS, ONLY_FIELDS
from tests import factories
from vanguard.core.prepared import PreparedGet

pytestmark = pytest.mark.django_db


def _with_summary():
    return Policy.objects.select_related("customer").only(
        *ONLY_FIELDS, *(f"customer__{name}" for name in CUSTOMER_SUMMARY_FIELDS)
    )


def _state(obj) -> dict:
    """What a caller can observe of a loaded instance: its loaded values, what is deferred, what is cached."""
    values = {k: v for k, v in obj.__dict__.items() if k != "_state"}
    return {
        "values": values,
        "deferred": obj.get_deferred_fields(),
        "cached": sorted(obj._state.fields_cache),
        "db": obj._state.db,
        "adding": obj._state.adding,
    }


def test_it_returns_what_the_queryset_returns_with_its_related_row_and_deferred_fields():
    # given
    policy = factories.PolicyFactory()
    prepared = PreparedGet(_with_summary)
    # when
    expected, got = _with_summary().get(pk=policy.pk), prepared.get(policy.pk)
    # then: same values, same deferred columns, the customer joined and deferred the same way
    assert {k: v for k, v in _state(got).items() if k != "values"} == {
        k: v for k, v in _state(expected).items() if k != "values"
    }
    assert {k: v for k, v in _state(got)["values"].items() if k != "_prefetched_objects_cache"} == {
        k: v for k, v in _state(expected)["values"].items() if k != "_prefetched_objects_cache"
    }
    assert _state(got.customer) == _state(expected.customer)
    assert got.customer.get_deferred_fields() and "ssn" in got.customer.get_deferred_fields()  # no PII loaded


def test_it_compiles_once_per_connection_and_then_runs_one_statement_per_read():
    # given
    first, second = factories.PolicyFactory(), factories.PolicyFactory()
    prepared = PreparedGet(_with_summary)
    compiled = []
    real = SQLCompiler.as_sql

    def counting(self, *args, **kwargs):
        compiled.append(self.query.model)
        return real(self, *args, **kwargs)

    with mock.patch.object(SQLCompiler, "as_sql", counting):
        prepared.get(first.pk)
        compiled_first = len(compiled)
        # when
        with CaptureQueriesContext(connection) as queries:
            again = prepared.get(second.pk)
    # then
    assert compiled_first == 1 and len(compiled) == 1
    assert len(queries) == 1 and again.pk == second.pk and again.customer.pk == second.customer.pk


def test_a_missing_key_is_does_not_exist_and_a_malformed_one_a_validation_error_as_with_get():
    # given
    prepared = PreparedGet(_with_summary)
    # when / then
    with pytest.raises(Policy.DoesNotExist):
        prepared.get(uuid.uuid4())
    with pytest.raises(ValidationError):
        prepared.get("not-a-uuid")


def test_a_locking_read_takes_the_row_lock():
    # given
    policy = factories.PolicyFactory()
    locked = PreparedGet(lambda: Policy.objects.lock_for_update())
    # when
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        got = locked.get(policy.pk)
    # then
    assert got.pk == policy.pk
    if connection.vendor == "postgresql":
        assert "FOR NO KEY UPDATE" in queries[0]["sql"]


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_outside_a_transaction_is_refused_like_the_queryset():
    # given: a plan compiled inside a transaction
    policy = factories.PolicyFactory()
    locked = PreparedGet(lambda: Policy.objects.lock_for_update())
    with transaction.atomic():
        locked.get(policy.pk)
    # when / then: the ORM refuses select_for_update in autocommit, and so does the plan
    with pytest.raises(TransactionManagementError):
        Policy.objects.lock_for_update().get(pk=policy.pk)
    with pytest.raises(TransactionManagementError):
        locked.get(policy.pk)


@pytest.mark.django_db(transaction=True)
def test_each_thread_reads_through_its_own_connection():
    # given: a plan compiled on this thread's connection
    policy = factories.PolicyFactory()
    prepared = PreparedGet(_with_summary)
    prepared.get(policy.pk)
    main = connections["default"]
    seen = {}

    def read():
        own = connections["default"]  # this thread's connection
        try:
            seen["policy"] = prepared.get(policy.pk)
            seen["plans"] = prepared in own.__dict__["_vanguard_prepared"] and own is not main
            seen["connection"] = weakref.ref(own)
        finally:
            own.close()

    # when
    worker = threading.Thread(target=read)
    worker.start()
    worker.join()
    # then: the other thread compiled its own plan on its own connection, and read the same row
    assert seen["plans"] is True and seen["policy"].pk == policy.pk
    assert prepared in main.__dict__["_vanguard_prepared"]
    # and the plan went with the thread's connection: nothing of the reader keeps it alive
    gc.collect()
    assert seen["connection"]() is None


def test_a_queryset_it_cannot_read_is_refused():
    # given
    from django.db.models import Count

    prepared = PreparedGet(lambda: Policy.objects.annotate(n=Count("claims")))
    # when / then
    with pytest.raises(TypeError, match="annotations"):
        prepared.get(uuid.uuid4())


def test_a_row_reader_builds_from_a_raw_row_what_the_orm_builds_decrypted_fields_included():
    # given: a customer with encrypted personal data, read by a hand-written statement of the reader's columns
    from customers.models import Customer
    from vanguard.core.prepared import RowReader

    customer = factories.CustomerFactory(phone="+442071234567", address="1 High St", ssn="123-45-6789")
    reader = RowReader(Customer)
    table = connection.ops.quote_name(Customer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {reader.columns(connection, 'c')} FROM {table} c WHERE c.id = %s", [customer.pk])  # noqa: S608
        row = cursor.fetchone()
    # when
    got, expected = reader.instance(connection, row), Customer.objects.get(pk=customer.pk)
    # then
    assert _state(got) == _state(expected)
    assert (got.phone, got.address, got.ssn) == ("+442071234567", "1 High St", "123-45-6789")
