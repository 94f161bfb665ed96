"""The searches that must stay fast at a million customers use their indexes (issue 13, goal 6).

Partial name and e-mail searches (`icontains`) use the pg_trgm GIN indexes of migration 0003; reference
numbers and national ids their b-tree indexes. Checked with EXPLAIN on the SQL Django actually sends.

The trigram tests do not force the planner (no `enable_seqscan = off`): they load 20,000 customers and ANALYZE,
so the index is chosen on its real cost, as it is on a large table. The equality lookups on unique numbers are
checked with sequential scans disabled instead: on a table of a few rows a scan is rightly cheaper, and the
point there is only that a usable b-tree index exists for the exact expression.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from claims.models import Claim
from customers import pii
from customers.models import Customer
from policies.models import Policy
from tests import factories

pytestmark = pytest.mark.django_db

BULK = 20_000


@pytest.fixture
def many_customers():
    """Ada Lovelace among BULK other customers, statistics fresh (raw SQL: 20,000 ORM saves would take a minute)."""
    ada = factories.CustomerFactory(first_name="Ada", last_name="Lovelace", email="ada.lovelace@example.test")
    ada_claim = factories.ClaimFactory(policy=factories.PolicyFactory(customer=ada))
    ada_policy = ada_claim.policy
    columns = [f.column for f in Customer._meta.concrete_fields]
    generated = {
        "id": "gen_random_uuid()",
        "email": "'bulk' || i || '@bulk.example'",
        "first_name": "'First' || mod(i, 97)",
        "last_name": "'Surname' || i",
        "ssn_hash": "md5(i::text)",
    }
    select = ", ".join(generated.get(column, f'c."{column}"') for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO customers_customer ({', '.join(columns)}) "  # noqa: S608 - column names from the model
            f"SELECT {select} FROM customers_customer c, generate_series(1, %s) i WHERE c.id = %s",
            [BULK, ada.pk],
        )
        # One policy and one claim per bulk customer, so the planner must not start from a tiny policies table.
        hex8 = "upper(lpad(to_hex(i), 8, '0'))"
        _copy_rows(
            cursor,
            Policy,
            {"id": "gen_random_uuid()", "policy_number": f"'POL-' || {hex8}", "customer_id": "cu.id"},
            "JOIN customers_customer cu ON cu.email = 'bulk' || i || '@bulk.example'",
            ada_policy.pk,
        )
        _copy_rows(
            cursor,
            Claim,
            {
                "id": "gen_random_uuid()",
                "claim_number": f"'CLM-' || {hex8}",
                "policy_id": "po.id",
                "customer_id": "po.customer_id",
            },
            f"JOIN policies_policy po ON po.policy_number = 'POL-' || {hex8}",
            ada_claim.pk,
        )
        cursor.execute("ANALYZE customers_customer")
        cursor.execute("ANALYZE policies_policy")
        cursor.execute("ANALYZE claims_claim")
    return ada


def _copy_rows(cursor, model, generated: dict[str, str], join: str, template_pk) -> None:
    """BULK copies of the row `template_pk` of `model`, with the `generated` columns computed from `i`."""
    table = model._meta.db_table
    columns = [f.column for f in model._meta.concrete_fields]
    select = ", ".join(generated.get(column, f't."{column}"') for column in columns)
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} "  # noqa: S608 - names from the model
        f"FROM {table} t CROSS JOIN generate_series(1, %s) i {join} WHERE t.id = %s",
        [BULK, template_pk],
    )


def plan(sql: str, params=None) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params or None)  # None: a captured query is already interpolated
        return "\n".join(row[0] for row in cursor.fetchall())


def plan_of(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    return plan(sql, params)


def test_the_trigram_indexes_are_on_the_expression_icontains_compiles_to():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customers_customer'")
        definitions = dict(cursor.fetchall())
    for column in ("first_name", "last_name", "email"):
        definition = definitions[f"customers_{column}_trgm_idx"]
        assert "USING gin" in definition
        assert f"upper(({column})::text) gin_trgm_ops" in definition


@pytest.mark.parametrize(
    ("lookup", "term", "index"),
    [
        ("last_name__icontains", "ovelac", "customers_last_name_trgm_idx"),
        ("first_name__icontains", "Ada", "customers_first_name_trgm_idx"),
        ("email__icontains", "lovelace@exam", "customers_email_trgm_idx"),
    ],
)
def test_a_partial_name_or_email_search_uses_its_trigram_index(many_customers, lookup, term, index):
    assert index in plan_of(Customer.objects.filter(**{lookup: term}))


def test_the_name_or_email_search_of_the_api_uses_the_three_indexes(many_customers):
    queryset = Customer.objects.filter(
        Q(first_name__icontains="lovel") | Q(last_name__icontains="lovel") | Q(email__icontains="lovel")
    )
    explained = plan_of(queryset)
    assert "Seq Scan" not in explained
    for column in ("first_name", "last_name", "email"):
        assert f"customers_{column}_trgm_idx" in explained


@pytest.mark.parametrize(
    "changelist",
    ["admin:customers_customer_changelist", "admin:policies_policy_changelist", "admin:claims_claim_changelist"],
)
def test_each_admin_search_by_customer_name_reads_the_customers_through_the_trigram_index(
    client,
    superuser,
    many_customers,
    changelist,
):
    # given
    client.force_login(superuser)
    # when: the changelist's own queries, as Django sends them
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse(changelist), {"q": "lovelace"})
    # then
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 1
    searches = [q["sql"] for q in captured if "LIKE" in q["sql"]]  # the count and the page
    assert searches, "the changelist ran no search query"
    for sql in searches:
        explained = plan(sql)
        assert "customers_last_name_trgm_idx" in explained, explained
        assert "Seq Scan on customers_customer" not in explained, explained


def test_the_admin_claim_search_by_customer_reads_the_claims_through_their_customer_index(
    client, superuser, many_customers
):
    # given
    client.force_login(superuser)
    # when
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("admin:claims_claim_changelist"), {"q": "lovelace"})
    # then: the matching customers' claims come from (customer, created_at, id), not a walk of every claim
    # joined to its policy and customer
    assert [claim.customer_id for claim in response.context["cl"].result_list] == [many_customers.pk]
    searches = [q["sql"] for q in captured if "LIKE" in q["sql"]]
    assert searches, "the changelist ran no search query"
    for sql in searches:
        explained = plan(sql)
        assert "claims_customer_created_idx" in explained, explained
        assert "claims_created_id_idx" not in explained and "Seq Scan on claims_claim" not in explained, explained


def test_the_policy_and_claim_searches_still_find_the_customer_by_several_words(client, superuser):
    # given
    ada = factories.CustomerFactory(first_name="Ada", last_name="Lovelace", email="countess@example.test")
    policy = factories.PolicyFactory(customer=ada)
    claim = factories.ClaimFactory(policy=policy)
    factories.ClaimFactory(policy=factories.PolicyFactory(customer__first_name="Ada", customer__last_name="Byron"))
    client.force_login(superuser)
    # when / then: every word must match some field (the admin's semantics), quoted phrases kept together
    for term in ("ada lovelace", "LOVELACE countess", '"Ada"  lovel'):
        assert list(client.get(reverse("admin:policies_policy_changelist"), {"q": term}).context["cl"].result_list) == [
            policy
        ], term
        assert list(client.get(reverse("admin:claims_claim_changelist"), {"q": term}).context["cl"].result_list) == [
            claim
        ], term
    assert not client.get(reverse("admin:policies_policy_changelist"), {"q": "ada hopper"}).context["cl"].result_list


def test_national_id_and_reference_numbers_are_looked_up_through_their_b_tree_indexes(many_customers):
    # given
    claim = Claim.objects.select_related("policy").get(policy__customer=many_customers)
    policy = claim.policy
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        # then
        assert "customers_ssn_hash_idx" in plan_of(Customer.objects.filter(ssn_hash=pii.ssn_hash("123-45-6789")))
        assert "policy_number" in plan_of(Policy.objects.filter(policy_number=policy.policy_number))
        assert "claim_number" in plan_of(Claim.objects.filter(claim_number=claim.claim_number))
