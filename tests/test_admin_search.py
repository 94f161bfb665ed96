"""Every admin search that can take an e-mail or a national id posts, and such a term never reaches a URL
(vanguard.admin_search). Covers every registered changelist, so a new admin with a search box is covered too."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from django.contrib import admin
from django.urls import reverse

from compliance.models import PIIAccessLog
from tests import factories
from tests.admin_support import messages_of

pytestmark = pytest.mark.django_db

EMAIL = "grace.hopper@example.test"
# Admins whose search box stays a plain GET, and why: none of them searches personal data.
GET_SEARCH_ALLOWED = {
    "auth.group": "role names",
    "token_blacklist.outstandingtoken": "user ids and token ids (jti), no personal data",
    "token_blacklist.blacklistedtoken": "user ids and token ids (jti), no personal data",
}


def searchable_admins():
    return sorted(
        (model._meta.label_lower, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model_admin.search_fields
    )


def changelist(label: str) -> str:
    app_label, model_name = label.split(".")
    return reverse(f"admin:{app_label}_{model_name}_changelist")


def test_every_search_box_that_may_take_personal_data_posts():
    plain = {label for label, model_admin in searchable_admins() if not getattr(model_admin, "posted_search", False)}
    assert plain == set(GET_SEARCH_ALLOWED)


POSTED = [label for label, model_admin in searchable_admins() if getattr(model_admin, "posted_search", False)]


@pytest.mark.parametrize("label", POSTED)
def test_an_email_in_the_address_is_refused(client, superuser, label):
    client.force_login(superuser)
    response = client.get(changelist(label), {"q": EMAIL})
    assert response.status_code == 302
    assert EMAIL not in unquote(response["Location"])
    assert any("search box" in message for message in messages_of(response))


@pytest.mark.parametrize("label", POSTED)
def test_the_search_box_posts_and_an_email_travels_as_a_token(client, superuser, label):
    client.force_login(superuser)
    page = client.get(changelist(label)).content.decode()
    assert 'method="post"' in page and 'id="changelist-search"' in page
    app_label, model_name = label.split(".")
    response = client.post(reverse(f"admin:{app_label}_{model_name}_search"), {"q": EMAIL})
    assert response.status_code == 302
    location = unquote(response["Location"])
    assert "?search=" in location and EMAIL not in location and "grace" not in location
    results = client.get(response["Location"])
    assert results.status_code == 200
    assert results.context["cl"].query == EMAIL  # the search ran with the posted term
    links = re.findall(r'(?:href|action)="([^"]*)"', results.content.decode())
    assert links and not [link for link in links if EMAIL in unquote(link)]


def test_a_posted_email_search_finds_the_customers_policies_and_claims(client, superuser):
    # given
    customer = factories.CustomerFactory(email=EMAIL)
    claim = factories.ClaimFactory(policy=factories.PolicyFactory(customer=customer))
    other = factories.ClaimFactory()
    PIIAccessLog.objects.create(actor=superuser, customer=customer, fields=["phone"], interface="admin")
    PIIAccessLog.objects.create(actor=superuser, customer=other.policy.customer, fields=["phone"], interface="admin")
    client.force_login(superuser)
    for label, wanted, unwanted in [
        ("policies.policy", claim.policy, other.policy),
        ("claims.claim", claim, other),
        ("compliance.piiaccesslog", customer.pk, other.policy.customer.pk),
    ]:
        app_label, model_name = label.split(".")
        # when
        response = client.post(reverse(f"admin:{app_label}_{model_name}_search"), {"q": EMAIL[:12] + "@"}, follow=True)
        # then
        shown = list(response.context["cl"].result_list)
        keys = [getattr(row, "customer_id", row) for row in shown] if label.startswith("compliance") else shown
        assert wanted in keys and unwanted not in keys, label


def test_admin_messages_naming_people_are_kept_in_the_session_not_in_a_cookie(client, superuser):
    # The messages cookie is signed, not encrypted: a message naming a customer would be readable in it.
    client.force_login(superuser)
    response = client.get(changelist("customers.customer"), {"q": EMAIL})  # refused with a message
    assert response.status_code == 302 and messages_of(response)
    assert "messages" not in response.cookies
