"""The tables an API write or a PII read inserts into carry only the indexes some query reads (issue 13).

Every index is written by every insert (and, for audit entries, again by the sealing UPDATE, which changes `seq`
and so is never HOT). A foreign key whose composite index leads with it needs no index of its own, and an exact
lookup needs no `LIKE` twin. The list below is the whole set: an index added back (a `db_index=True`, a new
foreign key) fails here until someone says which query reads it.
"""

from __future__ import annotations

import pytest
from django.db import connection

from compliance.models import AuditEntry

pytestmark = pytest.mark.django_db

INDEXES = {
    "compliance_auditentry": {
        "compliance_auditentry_pkey",
        "compliance_audit_obj_idx",  # an object's history (content type, pk); the admin's content-type filter
        "compliance_audit_object_pk_idx",  # the admin's exact search by object pk
        "compliance_audit_cid_idx",  # the admin's exact search by request id
        "compliance_audit_unsealed_idx",  # the sealer and the verifier
        "compliance_auditentry_seq_unique",  # one entry per position; the admin's order
        "compliance_auditentry_salt_unique",  # replay of an unsealed entry
        "compliance_auditentry_timestamp_310568d0",  # the admin's date filter, retention
        "compliance_auditentry_actor_id_5385ef1c",  # the admin's actor filter, a staff member's trail
    },
    "compliance_piiaccesslog": {
        "compliance_piiaccesslog_pkey",
        "compliance_pii_customer_idx",  # who read this customer (export, the customer page)
        "compliance_pii_actor_idx",  # what this staff member read
        "compliance_piiaccesslog_created_at_97728d7d",  # the admin's date filter, retention
    },
    "claims_claimevent": {
        "claims_claimevent_pkey",
        "claims_event_claim_idx",
        "claims_claimevent_actor_id_7e5ae3c9",
        "claims_claimevent_created_at_f1338437",
    },
    "claims_reservechange": {
        "claims_reservechange_pkey",
        "claims_reserve_claim_idx",
        "claims_reserve_created_idx",
        "claims_reservechange_actor_id_cd4ed205",
    },
}


def _indexes(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.parametrize("table", sorted(INDEXES))
def test_a_hot_write_table_has_only_the_indexes_its_queries_read(table):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's catalogue; SQLite builds no LIKE twins")
    assert _indexes(table) == INDEXES[table]


def test_no_claim_or_customer_column_has_a_second_index_its_composite_already_covers():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's catalogue")
    claims, customers = _indexes("claims_claim"), _indexes("customers_customer")
    # then: the foreign keys are covered by (policy, status) and (assignee, status); the blind index has no twin
    assert not {"claims_claim_policy_id_5de3076f", "claims_claim_assigned_to_id_5e597702"} & claims
    assert {"claims_policy_status_idx", "claims_assignee_status_idx"} <= claims
    assert "customers_ssn_hash_idx" in customers and not any(name.endswith("_like") for name in customers)


@pytest.mark.parametrize("field", ["object_pk", "cid"])
def test_the_admin_exact_searches_of_the_audit_trail_read_their_b_tree(field):
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN of PostgreSQL")
    sql, params = AuditEntry.objects.filter(**{field: "0f3c"}).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: only whether a usable index exists
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"compliance_audit_{field}_idx" in plan, plan
