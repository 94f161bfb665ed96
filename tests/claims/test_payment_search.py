"""The payments changelist's search: exact payment and claim numbers through their unique indexes, payee names
through the trigram index (claims migration 0007), with the admin's "every word matches" semantics."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from claims.models import ClaimPayment
from tests import factories

pytestmark = pytest.mark.django_db
PAYMENTS = reverse("admin:claims_claimpayment_changelist")


def _payment(payee: str) -> ClaimPayment:
    claim = factories.ClaimFactory(settled=True)
    payment = ClaimPayment.objects.get(claim=claim)
    payment.payee_name = payee
    payment.save(update_fields=["payee_name"])
    return payment


def _found(client, term: str) -> set[str]:
    response = client.get(PAYMENTS, {"q": term})
    assert response.status_code == 200
    return {p.payment_number for p in response.context["cl"].result_list}


def test_the_search_finds_payments_by_number_claim_number_and_payee_words(client, superuser):
    # given
    ada = _payment("Ada Lovelace")
    byron = _payment("Ada Byron")
    client.force_login(superuser)
    # when / then
    assert _found(client, ada.payment_number.lower()) == {ada.payment_number}
    assert _found(client, ada.claim.claim_number) == {ada.payment_number}
    assert _found(client, "ada") == {ada.payment_number, byron.payment_number}
    assert _found(client, "lovelace ADA") == {ada.payment_number}
    assert _found(client, '"Ada Byron"') == {byron.payment_number}
    assert _found(client, "hopper") == set()


def test_a_payee_search_can_use_the_trigram_index(client, superuser):
    # given
    _payment("Ada Lovelace")
    client.force_login(superuser)
    searched = client.get(PAYMENTS, {"q": "lovel"}).context["cl"].queryset
    # when: the changelist's own filter, unordered, planned without sequential scans (on a handful of rows a scan,
    # or a walk of the ordering index, is rightly cheaper; the point is that an index answers the expression sent)
    sql, params = searched.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        explained = "\n".join(row[0] for row in cursor.fetchall())
    # then
    assert "LIKE" in sql
    assert "claims_payment_payee_trgm_idx" in explained, explained
