"""The PII access log (SPEC §7.3): who saw which of a customer's personal data in clear, when and through what."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING
from uuid import UUID

from django.db import connection
from django.utils import timezone

from compliance.models import PIIAccessLog
from vanguard.core.prepared import RowReader
from vanguard.core.request_context import request_id_var

if TYPE_CHECKING:
    from customers.models import Customer
    from vanguard.accounts.models import User

INTERFACES = frozenset(PIIAccessLog.Interface.values)


def _check_interface(interface: str) -> str:
    # Shared by the export and the erasure, which record the interface that asked for them.
    if interface not in INTERFACES:
        raise ValueError(f"Unknown interface {interface!r}; expected one of {sorted(INTERFACES)}")
    return interface


def _context_remote_addr() -> str | None:
    # auditlog's context variable (docs/architecture.md, internals table): the address the middleware or the
    # JWT authentication recorded for this request.
    from auditlog.context import auditlog_value

    try:
        return auditlog_value.get().get("remote_addr")
    except LookupError:
        return None


def pii_access_record(
    *, actor: User, customer_id: UUID, fields: list[str], interface: str, remote_addr: str | None = None
) -> None:
    """Record that `actor` saw `fields` of a customer in clear (SPEC §7.3): one PIIAccessLog row with
    the request id of the current request or job. Writes nothing when no field was shown in clear."""
    _check_interface(interface)
    if not fields:
        return
    PIIAccessLog.objects.create(
        actor=actor,
        customer_id=customer_id,
        fields=sorted(set(fields)),
        interface=interface,
        remote_addr=remote_addr or _context_remote_addr(),
        request_id=(request_id_var.get() or "")[:64],
    )


# When a clear view of a customer shows each of CLEAR_PII_FIELDS: a non-empty value. The encrypted columns cannot be
# tested in SQL (an empty phone is a ciphertext too), their masked columns can; an absent birth date is NULL.
_SHOWN_SQL = {
    "phone": "c.phone_masked <> ''",
    "date_of_birth": "c.date_of_birth IS NOT NULL",
    "address": "c.address_masked <> ''",
}


def customer_read_recorded(
    *, actor: User, customer_id: UUID, interface: str, remote_addr: str | None = None
) -> Customer:
    """The customer (Customer.DoesNotExist when there is none), for a view that shows their contact PII in clear,
    with the PII access row for the fields it reveals written by the same statement (SPEC §7.3).

    What pii_access_record(fields=customers.selectors.clear_fields_shown(customer)) writes after a read, in one round
    trip and one commit instead of two: the row selected and the row logged cannot disagree, and a detail read costs
    one statement. Other databases (SQLite for scripts/run) take those two steps."""
    from customers import selectors
    from customers.models import Customer

    _check_interface(interface)
    if connection.vendor != "postgresql":
        customer = selectors.customer_get(customer_id=customer_id)
        pii_access_record(
            actor=actor,
            customer_id=customer.pk,
            fields=selectors.clear_fields_shown(customer),
            interface=interface,
            remote_addr=remote_addr,
        )
        return customer
    fields = sorted(selectors.CLEAR_PII_FIELDS)  # in the order pii_access_record stores them
    shown = [_SHOWN_SQL[name] for name in fields]
    names = [f"CASE WHEN {_SHOWN_SQL[name]} THEN '{name}' END" for name in fields]
    customers, log = Customer._meta.db_table, PIIAccessLog._meta.db_table
    # Fixed SQL built from the model's own table and column names and the constants above; every value is a
    # parameter. PostgreSQL runs a data-modifying WITH to completion, read or not.
    sql = (
        f"WITH c AS (SELECT * FROM {customers} WHERE id = %s), "  # noqa: S608
        f"logged AS (INSERT INTO {log} (actor_id, customer_id, fields, interface, remote_addr, request_id, created_at) "
        f"SELECT %s, c.id, (SELECT jsonb_agg(f ORDER BY f) FROM unnest(ARRAY[{', '.join(names)}]) f "
        f"WHERE f IS NOT NULL), %s, %s, %s, %s FROM c WHERE {' OR '.join(shown)} RETURNING 1) "
        f"SELECT {_customer_rows().columns(connection, 'c')} FROM c"
    )
    params = [
        customer_id,
        actor.pk,
        interface,
        remote_addr or _context_remote_addr(),
        (request_id_var.get() or "")[:64],
        timezone.now(),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise Customer.DoesNotExist("No Customer matches the given query.")
    return _customer_rows().instance(connection, row)


@functools.cache
def _customer_rows() -> RowReader:
    from customers.models import Customer

    return RowReader(Customer)
