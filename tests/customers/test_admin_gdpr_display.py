"""What the customer pages say about consent, erasure and legal hold (issue 9): an erased customer's consent is
not shown as ticked, and Erase is not offered on a customer under legal hold, with the hold's reason."""

from __future__ import annotations

import pytest
from django.urls import reverse

from compliance.services import customer_erase
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:customers_customer_changelist")


def change_url(customer) -> str:
    return reverse("admin:customers_customer_change", args=[customer.pk])


def erase_url(customer) -> str:
    return reverse("admin:customers_customer_transition", args=[customer.pk, "erase"])


def test_erase_is_offered_on_a_customer_without_a_hold(client, compliance_officer):
    # given
    customer = factories.CustomerFactory()
    client.force_login(compliance_officer)
    # when
    html = client.get(change_url(customer)).content.decode()
    # then
    assert f'href="{erase_url(customer)}"' in html and "is not available" not in html


def test_erase_is_disabled_with_the_reason_on_a_customer_under_legal_hold(client, compliance_officer):
    # given: an active policy holds the customer's data
    policy = factories.PolicyFactory()
    client.force_login(compliance_officer)
    # when
    html = client.get(change_url(policy.customer)).content.decode()
    # then: no link to the erase form; the service's reason, naming the policy, instead
    assert f'href="{erase_url(policy.customer)}"' not in html
    assert 'aria-disabled="true"' in html
    assert "Legal hold" in html and policy.policy_number in html


def test_an_erased_customer_shows_erased_not_consent_given(client, compliance_officer):
    # given
    customer = factories.CustomerFactory(last_name="Quill")
    customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="admin", reason="request")
    client.force_login(compliance_officer)
    # when
    listing = client.get(CHANGELIST).content.decode()
    page = client.get(change_url(customer)).content.decode()
    # then: the list says "Erased ..." where the consent tick was, the change page too
    row = listing.split(f"/{customer.pk}/change/", 1)[1].split("</tr>", 1)[0]
    assert "Erased" in row and "icon-yes" not in row
    assert "Erased customer" in row and "erased.invalid" not in row  # no placeholder address in the list
    consent = page.split("field-consent_status", 1)[1].split("</div>", 3)
    assert "Erased" in "".join(consent) and "field-gdpr_consent " not in page


def test_a_withdrawn_consent_reads_withdrawn_in_the_list(client, customer_service):
    # given
    from customers.services import customer_update

    customer = factories.CustomerFactory()
    customer_update(actor=customer_service, customer_id=customer.pk, gdpr_consent=False)
    client.force_login(customer_service)
    # when
    listing = client.get(CHANGELIST).content.decode()
    # then
    row = listing.split(f"/{customer.pk}/change/", 1)[1].split("</tr>", 1)[0]
    assert "Withdrawn" in row


def test_the_erasure_filter_reads_erased_and_not_erased(client, compliance_officer):
    # given
    kept, erased = factories.CustomerFactory(), factories.CustomerFactory()
    customer_erase(actor=compliance_officer, customer_id=erased.pk, interface="admin", reason="request")
    client.force_login(compliance_officer)
    # when
    response = client.get(CHANGELIST, {"erased": "yes"})
    # then
    html = response.content.decode()
    assert "By erasure" in html and "Not erased" in html and "By erased at" not in html
    assert list(response.context["cl"].result_list) == [erased]
    assert list(client.get(CHANGELIST, {"erased": "no"}).context["cl"].result_list) == [kept]
