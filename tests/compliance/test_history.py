"""The History page and the audit trail's change page read as words (issue 9): people and records by name with
a link, field labels, formatted values, internals hidden, redactions kept, and a constant number of queries."""

from __future__ import annotations

import re
from decimal import Decimal

from auditlog.context import disable_auditlog, set_actor
from django.urls import reverse

from claims import services as claim_services
from compliance.models import AuditEntry
from compliance.services import customer_erase
from tests import factories
from tests.admin_support import count_queries

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def history_url(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[obj.pk])


def content_of(html: str) -> str:
    """The page's entries only (the breadcrumbs and the form's URLs carry the object's own id)."""
    return html.split('id="auditlog-history"', 1)[1].split("<footer", 1)[0]


def text_of(html: str) -> str:
    """What a reader sees: links' targets (which carry ids) left out."""
    return re.sub(r"<[^>]+>", " ", html)


def test_a_policy_history_names_its_customer_and_shows_values_in_words(client, compliance_officer, superuser):
    # given: a policy created by a named user
    customer = factories.CustomerFactory(first_name="Ada", last_name="Lovelace")
    with set_actor(superuser):
        policy = factories.PolicyFactory(customer=customer, premium_amount=Decimal("405266.00"), policy_type="home")
    client.force_login(compliance_officer)
    # when
    html = content_of(client.get(history_url(policy)).content.decode())
    # then: the customer by name, linked; money, choices and people in words; no internals or artefacts
    customer_url = reverse("admin:customers_customer_change", args=[customer.pk])
    assert f'<a href="{customer_url}">Ada Lovelace</a>' in html
    assert "405,266.00 EUR" in html and "Home" in html and "Premium amount" in html
    assert superuser.email in html and "Created" in html
    assert not UUID_RE.search(text_of(html)), UUID_RE.search(text_of(html))
    assert ".None" not in html and ">Id<" not in html and "Created at" not in html


def test_a_customer_history_hides_internals_and_keeps_personal_values_redacted(client, compliance_officer, superuser):
    # given
    with set_actor(superuser):
        customer = factories.CustomerFactory(phone="+442071234567", ssn="123-45-6789")
    client.force_login(compliance_officer)
    # when
    html = content_of(client.get(history_url(customer)).content.decode())
    # then
    assert "[redacted]" in html and "+442071234567" not in html and "123-45-6789" not in html
    assert "Ssn hash" not in html and "Pii encrypted" not in html and "Encryption key" not in html


def test_a_claim_history_names_the_assignee_and_the_policy_by_number(client, manager, compliance_officer):
    # given: a claim assigned by a manager
    claim = factories.ClaimFactory()
    assignee = factories.staff("Claims adjuster", full_name="Ann Adjuster")
    claim_services.claim_assign(actor=manager, claim_id=claim.pk, assignee_id=assignee.pk)
    client.force_login(compliance_officer)
    # when
    html = content_of(client.get(history_url(claim)).content.decode())
    # then
    assert "Assigned to" in html and f"Ann Adjuster &lt;{assignee.email}&gt;" in html
    assert claim.policy.policy_number in html
    assert not UUID_RE.search(text_of(html))


def test_erased_values_stay_erased_in_the_history(client, compliance_officer):
    # given: a customer changed, then erased
    customer = factories.CustomerFactory(first_name="Zebedee")
    with set_actor(compliance_officer):
        from customers.services import customer_update

        customer_update(actor=factories.staff("Customer service"), customer_id=customer.pk, first_name="Zeb")
    customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="admin", reason="request 1")
    client.force_login(compliance_officer)
    # when
    html = content_of(client.get(history_url(customer)).content.decode())
    # then
    assert "[erased]" in html and "Zebedee" not in html and "Zeb<" not in html


def test_the_history_page_runs_a_constant_number_of_queries(client, manager, compliance_officer):
    # given: two entries naming two users, then ten naming ten different users (the page shows ten); the
    # claim's own creation is left out so that both pages hold entries of the same kind
    with disable_auditlog():
        claim = factories.ClaimFactory()
    claim_services.claim_assign(actor=manager, claim_id=claim.pk, assignee_id=factories.staff("Claims adjuster").pk)
    client.force_login(compliance_officer)
    claim_services.claim_assign(actor=manager, claim_id=claim.pk, assignee_id=factories.staff("Claims adjuster").pk)
    url = history_url(claim)
    few = count_queries(client, url)
    for _ in range(10):
        claim_services.claim_assign(actor=manager, claim_id=claim.pk, assignee_id=factories.staff("Claims adjuster").pk)
    # when
    many = count_queries(client, url)
    # then
    assert few == many


def test_the_audit_entry_page_shows_changes_and_additional_data_in_words(client, compliance_officer):
    # given: an erasure, whose entry carries additional data
    customer = factories.CustomerFactory()
    customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="admin", reason="ticket 42")
    entry = AuditEntry.objects.filter(object_pk=str(customer.pk)).order_by("-id").first()
    client.force_login(compliance_officer)
    # when
    response = client.get(reverse("admin:compliance_auditentry_change", args=[entry.pk]))
    # then: labels and formatted values, no raw JSON
    html = response.content.decode()
    assert response.status_code == 200
    assert "Erased at" in html and "ticket 42" in html
    assert "<pre>" not in html and '"gdpr_erasure"' not in html and "erased_at" not in html


def test_the_audit_trail_filters_by_audited_models_only(client, compliance_officer):
    # given
    client.force_login(compliance_officer)
    # when
    response = client.get(reverse("admin:compliance_auditentry_changelist"))
    # then: the content-type filter offers the audited models, not sessions, permissions or content types
    html = response.content.decode()
    choices = re.findall(r"content_type__id__exact=\d+[^>]*>([^<]+)<", html)
    assert "Customer" in choices and "Claim" in choices and "Policy" in choices
    assert not {"Session", "Permission", "Content type", "Login attempt"} & set(choices)


def test_the_history_of_a_missing_record_redirects_instead_of_failing(client, compliance_officer):
    client.force_login(compliance_officer)
    for object_id in ("00000000-0000-0000-0000-000000000000", "not-an-id"):
        # when
        response = client.get(reverse("admin:claims_claim_history", args=[object_id]))
        # then: like the change page of a missing record, not a 500
        assert response.status_code == 302, object_id


def test_the_history_title_names_the_record_as_staff_do(client, compliance_officer):
    # given: an erased customer (whose stored e-mail carries its id) and a policy
    erased = factories.CustomerFactory()
    customer_erase(actor=compliance_officer, customer_id=erased.pk, interface="admin", reason="request")
    policy = factories.PolicyFactory()
    client.force_login(compliance_officer)
    # when
    erased_page = client.get(history_url(erased)).content.decode()
    policy_page = client.get(history_url(policy)).content.decode()
    # then
    assert "<h1>History of Erased customer</h1>" in erased_page
    crumbs = re.search(r'<div class="breadcrumbs">(.*?)</div>', erased_page, re.S).group(1)
    assert "Erased customer" in crumbs and "erased.invalid" not in crumbs and "History" in crumbs
    assert f"<h1>History of {policy.policy_number}</h1>" in policy_page


def test_additional_data_keys_read_as_words():
    from vanguard.history import readable_additional_data

    pairs = dict(
        readable_additional_data(
            {"gdpr_erasure": {"reason": "ticket", "login_attempts": 2}, "audit_redactions": {"7": {}, "12": {}}}
        )
    )
    assert pairs == {
        "GDPR erasure · reason": "ticket",
        "GDPR erasure · login attempts": "2",
        "Audit redactions": "2 earlier entries redacted (#7, #12)",
    }
