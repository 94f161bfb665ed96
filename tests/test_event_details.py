"""Events inlines show their data in words (issue 9): the assignee by name, documents by file name, renewals by
number, money with its currency, choice labels; no raw JSON or ids; a constant number of queries."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from claims import services as claim_services
from policies import services as policy_services
from tests import factories
from tests.admin_support import count_queries

pytestmark = pytest.mark.django_db

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def events_of(html: str) -> str:
    """The events inline's cells, as a reader sees them (links' targets left out)."""
    start = html.lower().index("events (why and by whom)")
    section = html[start:].split("</fieldset>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section))


def test_a_claims_events_name_the_assignee_and_the_amount(client, manager):
    # given
    claim = factories.ClaimFactory()
    assignee = factories.staff("Claims adjuster", full_name="Ann Adjuster")
    claim_services.claim_assign(actor=manager, claim_id=claim.pk, assignee_id=assignee.pk)
    client.force_login(manager)
    # when
    html = client.get(reverse("admin:claims_claim_change", args=[claim.pk])).content.decode()
    # then
    text = events_of(html)
    assert f"To: Ann Adjuster &lt;{assignee.email}&gt;" in text and "From: Nobody" in text
    assert not UUID_RE.search(text) and "{&quot;" not in text and '{"' not in text


def test_a_policys_events_name_the_renewal_and_the_audit_outcome(client, superuser):
    # given
    policy = factories.PolicyFactory()
    renewal = policy_services.policy_renew(actor=superuser, policy_id=policy.pk)
    policy_services.policy_record_audit(actor=superuser, policy_id=policy.pk, outcome="review_required")
    client.force_login(superuser)
    # when
    text = events_of(client.get(reverse("admin:policies_policy_change", args=[policy.pk])).content.decode())
    # then
    assert f"Renewed as: {renewal.policy_number}" in text and "Renewal number" not in text
    assert "To: Review required" in text
    assert not UUID_RE.search(text)


def test_the_events_inline_runs_a_constant_number_of_queries(client, manager):
    # given: two assignment events, then ten more to ten different people
    claim = factories.ClaimFactory()
    for _ in range(2):
        claim_services.claim_assign(actor=manager, claim_id=claim.pk, assignee_id=factories.staff("Claims adjuster").pk)
    client.force_login(manager)
    url = reverse("admin:claims_claim_change", args=[claim.pk])
    few = count_queries(client, url)
    for _ in range(10):
        claim_services.claim_assign(actor=manager, claim_id=claim.pk, assignee_id=factories.staff("Claims adjuster").pk)
    # when
    many = count_queries(client, url)
    # then
    assert few == many
