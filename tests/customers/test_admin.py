"""Customers in the admin: PII masking per permission, SSN search, service-backed forms, GDPR actions."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils.http import urlencode

from compliance.models import PIIAccessLog
from customers import pii
from customers.models import Customer
from tests import factories
from tests.admin_support import count_queries, messages_of, post_action

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:customers_customer_changelist")
ADD = reverse("admin:customers_customer_add")
SEARCH = reverse("admin:customers_customer_search")
SSN = "123-45-6789"


def change_url(customer: Customer) -> str:
    return reverse("admin:customers_customer_change", args=[customer.pk])


def search(client, term: str, **filters):
    """Search as the search box does: post the term, follow the redirect to the changelist."""
    return client.post(SEARCH, {"q": term, **filters}, follow=True)


@pytest.fixture
def customer():
    return factories.CustomerFactory(
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.test",
        phone="+442071234567",
        address="12 Analytical Row, London",
        ssn=SSN,
        ssn_hash=pii.ssn_hash(SSN),
    )


def form_data(customer: Customer, **overrides) -> dict:
    data = {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
        "phone": customer.phone,
        "date_of_birth": customer.date_of_birth.isoformat(),
        "address": customer.address,
        "gdpr_consent": "on",
        "policies-TOTAL_FORMS": "0",
        "policies-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


# --- masking ---------------------------------------------------------------------------------------------


def test_customer_service_sees_the_ssn_masked_and_never_in_clear(client, customer_service, customer):
    # given
    client.force_login(customer_service)
    # when
    response = client.get(change_url(customer))
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "***-**-6789" in html
    assert SSN not in html and "123456789" not in html
    assert 'name="ssn"' not in html
    # contact data is shown in clear (customer service holds view_pii) and that view is logged
    assert "+442071234567" in html
    row = PIIAccessLog.objects.get(customer=customer)
    assert row.actor == customer_service and row.interface == "admin"
    assert set(row.fields) == {"phone", "date_of_birth", "address"}


def test_customer_service_cannot_overwrite_the_ssn_through_the_form(client, customer_service, customer):
    # given
    client.force_login(customer_service)
    # when: a forged field for the SSN rides along with a legitimate change
    response = client.post(change_url(customer), form_data(customer, last_name="Byron", ssn="999-99-9999"))
    # then: the legitimate change is saved through the service, the SSN is untouched
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.last_name == "Byron"
    assert customer.ssn == SSN and customer.ssn_hash == pii.ssn_hash(SSN)


def test_compliance_officer_sees_the_full_ssn_and_the_access_is_logged(client, compliance_officer, customer):
    # given
    client.force_login(compliance_officer)
    # when
    response = client.get(change_url(customer))
    # then
    assert response.status_code == 200
    assert SSN in response.content.decode()
    row = PIIAccessLog.objects.get(customer=customer)
    assert "ssn" in row.fields and row.interface == "admin" and row.actor == compliance_officer
    # read-only: compliance officers edit nothing here
    assert 'name="_save"' not in response.content.decode()


def test_user_without_view_pii_sees_masked_contact_data_and_nothing_is_logged(client, customer):
    # given: a user who may view customers but not their PII
    group = Group.objects.create(name="Viewers")
    group.permissions.add(Permission.objects.get(codename="view_customer", content_type__app_label="customers"))
    user = factories.UserFactory()
    user.groups.add(group)
    client.force_login(user)
    # when
    response = client.get(change_url(customer))
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "+44 ****** 567" in html
    assert "+442071234567" not in html and "Analytical Row" not in html and SSN not in html
    assert not PIIAccessLog.objects.exists()


def test_the_list_shows_only_masked_phones(client, compliance_officer, customer):
    # given
    client.force_login(compliance_officer)
    # when
    response = client.get(CHANGELIST)
    # then
    html = response.content.decode()
    assert "+44 ****** 567" in html
    assert "+442071234567" not in html and SSN not in html


# --- search ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("term", [SSN, "123 45 6789", "123456789"])
def test_exact_ssn_search_finds_the_customer_through_the_blind_index(client, customer_service, customer, term):
    # given
    other = factories.CustomerFactory(ssn="987-65-4321", ssn_hash=pii.ssn_hash("987-65-4321"))
    client.force_login(customer_service)
    # when
    response = search(client, term)
    # then
    found = list(response.context["cl"].result_list)
    assert found == [customer]
    assert other not in found


def test_search_by_policy_number_and_by_name(client, customer_service, customer):
    # given
    policy = factories.PolicyFactory(customer=customer)
    factories.CustomerFactory(last_name="Babbage")
    client.force_login(customer_service)
    # when
    by_number = client.get(CHANGELIST, {"q": policy.policy_number.lower()})
    by_name = client.get(CHANGELIST, {"q": "lovelace"})
    # then
    assert list(by_number.context["cl"].result_list) == [customer]
    assert list(by_name.context["cl"].result_list) == [customer]


# --- add and change through the services ------------------------------------------------------------------


def test_adding_a_customer_goes_through_the_service(client, customer_service):
    # given
    client.force_login(customer_service)
    data = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "Grace@Example.TEST",
        "phone": "+12025550123",
        "date_of_birth": "1906-12-09",
        "address": "Arlington",
        "ssn": "111-22-3333",
        "gdpr_consent": "on",
    }
    # when
    response = client.post(ADD, data)
    # then
    assert response.status_code == 302
    created = Customer.objects.get()
    assert created.email == "grace@example.test"
    assert created.ssn_hash == pii.ssn_hash("111-22-3333")
    assert created.gdpr_consent_date is not None and created.data_retention_date is not None


def test_adding_without_consent_shows_the_rule_and_saves_nothing(client, customer_service):
    # given
    client.force_login(customer_service)
    data = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.test"}
    # when
    response = client.post(ADD, data)
    # then
    assert response.status_code == 200
    assert "GDPR consent is required to create a customer." in response.content.decode()
    assert not Customer.objects.exists()


def test_a_duplicate_email_in_any_case_is_refused_on_the_form(client, customer_service, customer):
    # given
    client.force_login(customer_service)
    data = {"first_name": "Other", "last_name": "Person", "email": "ADA@example.test", "gdpr_consent": "on"}
    # when
    response = client.post(ADD, data)
    # then
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Customer.objects.count() == 1


def test_an_invalid_phone_is_refused_and_nothing_changes(client, customer_service, customer):
    # given
    client.force_login(customer_service)
    # when
    response = client.post(change_url(customer), form_data(customer, phone="not-a-phone", last_name="Byron"))
    # then
    assert response.status_code == 200
    assert "E.164" in response.content.decode()
    customer.refresh_from_db()
    assert customer.last_name == "Lovelace" and customer.phone == "+442071234567"


def test_an_adjuster_cannot_add_or_change_customers(client, adjuster, customer):
    # given
    client.force_login(adjuster)
    # when
    add = client.get(ADD)
    change = client.post(change_url(customer), form_data(customer, last_name="Byron"))
    # then
    assert add.status_code == 403 and change.status_code == 403
    customer.refresh_from_db()
    assert customer.last_name == "Lovelace"


def test_nobody_can_delete_a_customer(client, superuser, customer):
    # given
    client.force_login(superuser)
    # when
    response = client.post(reverse("admin:customers_customer_delete", args=[customer.pk]), {"post": "yes"})
    # then
    assert response.status_code == 403
    assert Customer.objects.filter(pk=customer.pk).exists()


# --- GDPR actions ----------------------------------------------------------------------------------------


def test_export_action_downloads_the_personal_data_as_json(client, compliance_officer, customer):
    # given
    client.force_login(compliance_officer)
    # when
    response = post_action(client, CHANGELIST, "export_personal_data", [customer])
    # then
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    body = json.loads(response.content)
    assert SSN in json.dumps(body) and "ada@example.test" in json.dumps(body)
    assert PIIAccessLog.objects.filter(customer=customer, actor=compliance_officer).exists()


def test_customer_service_has_no_export_or_erase_action(client, customer_service, customer):
    # given
    client.force_login(customer_service)
    # when
    response = client.get(CHANGELIST)
    refused = post_action(client, CHANGELIST, "erase_personal_data", [customer], apply="yes", reason="x")
    # then
    action_form = response.context["action_form"]
    actions = [name for name, _label in action_form.fields["action"].choices] if action_form else []
    assert "export_personal_data" not in actions and "erase_personal_data" not in actions
    customer.refresh_from_db()
    assert refused.status_code in (200, 302) and not customer.is_erased


def test_erase_asks_for_confirmation_then_erases_the_valid_ones_and_reports_each_hold(
    client, compliance_officer, customer
):
    # given: one customer free to erase, one under legal hold (an active policy)
    held = factories.PolicyFactory().customer
    client.force_login(compliance_officer)
    # when: the action first shows its confirmation page
    confirm = post_action(client, CHANGELIST, "erase_personal_data", [customer, held])
    # then
    assert confirm.status_code == 200
    assert "cannot be undone" in confirm.content.decode()
    customer.refresh_from_db()
    assert not customer.is_erased
    # when: confirmed with a reason
    response = post_action(
        client, CHANGELIST, "erase_personal_data", [customer, held], apply="yes", reason="Subject request SR-1"
    )
    # then
    assert response.status_code == 302
    customer.refresh_from_db()
    held.refresh_from_db()
    assert customer.is_erased and customer.first_name == "Erased"
    assert not held.is_erased
    texts = messages_of(response)
    assert any("Legal hold" in text and held.policies.get().policy_number in text for text in texts)
    assert any("Erased: 1 customer" in text for text in texts)


def test_the_erase_page_and_its_message_do_not_repeat_the_persons_email(client, compliance_officer, customer):
    # given
    url = reverse("admin:customers_customer_transition", args=[customer.pk, "erase"])
    name, email = customer.full_name, customer.email
    client.force_login(compliance_officer)
    # when
    page = client.get(url)
    response = client.post(url, {"apply": "yes", "reason": "Subject request SR-2"})
    # then: a titled page with a plain button; the message names neither the person nor their e-mail
    html = page.content.decode()
    assert 'value="Erase personal data"' in html and "<h1>Erase personal data: " in html and email not in html
    texts = messages_of(response)
    assert response.status_code == 302 and any("Personal data erased" in text for text in texts)
    assert not any(name in text or email in text or customer.last_name in text for text in texts)
    customer.refresh_from_db()
    assert customer.is_erased


def test_an_erase_refused_for_a_legal_hold_keeps_the_reason_typed(client, compliance_officer):
    # given: an active policy is a legal hold
    held = factories.PolicyFactory().customer
    url = reverse("admin:customers_customer_transition", args=[held.pk, "erase"])
    client.force_login(compliance_officer)
    # when
    response = client.post(url, {"apply": "yes", "reason": "Subject request SR-3"})
    # then
    html = response.content.decode()
    assert response.status_code == 200 and "Legal hold" in html and 'value="Subject request SR-3"' in html
    held.refresh_from_db()
    assert not held.is_erased


def test_an_erased_customer_is_read_only(client, superuser, customer):
    # given
    from compliance.services import customer_erase

    customer_erase(actor=superuser, customer_id=customer.pk, interface="admin")
    client.force_login(superuser)
    # when
    view = client.get(change_url(customer))
    post = client.post(change_url(customer), form_data(customer, first_name="Back"))
    # then
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    assert post.status_code == 403


# --- query counts ----------------------------------------------------------------------------------------


def test_changelist_runs_the_same_number_of_queries_for_2_and_22_customers(client, customer_service):
    # given
    factories.CustomerFactory.create_batch(2)
    client.force_login(customer_service)
    client.get(CHANGELIST)  # warm per-process caches (content types)
    # when
    with_two = count_queries(client, CHANGELIST)
    factories.CustomerFactory.create_batch(20)
    with_twenty_two = count_queries(client, CHANGELIST)
    # then
    assert with_two == with_twenty_two


def test_change_view_query_count_does_not_grow_with_policies_and_claims(client, compliance_officer, customer):
    # given
    factories.ClaimFactory(policy=factories.PolicyFactory(customer=customer))
    client.force_login(compliance_officer)
    client.get(change_url(customer))
    # when
    few = count_queries(client, change_url(customer))
    for _ in range(5):
        factories.ClaimFactory(policy=factories.PolicyFactory(customer=customer))
    many = count_queries(client, change_url(customer))
    # then
    assert few == many


def test_history_is_the_audit_trail_with_personal_values_redacted(
    client, customer_service, compliance_officer, customer
):
    # given: a change made through the admin
    client.force_login(customer_service)
    client.post(change_url(customer), form_data(customer, phone="+442079999999", last_name="Byron"))
    client.force_login(compliance_officer)
    # when
    response = client.get(reverse("admin:customers_customer_history", args=[customer.pk]))
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "Byron" in html and "[redacted]" in html
    assert "+442079999999" not in html and "+442071234567" not in html and SSN not in html


def test_an_unfiltered_big_list_uses_the_planner_estimate_instead_of_counting(client, customer_service, monkeypatch):
    # given: the table has statistics, and "big" starts at one row for this test
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from vanguard import admin as vanguard_admin

    factories.CustomerFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    monkeypatch.setattr(vanguard_admin, "ESTIMATE_COUNT_ABOVE", 0)
    client.force_login(customer_service)
    # when
    with CaptureQueriesContext(connection) as unfiltered:
        listing = client.get(CHANGELIST)
    with CaptureQueriesContext(connection) as filtered:
        client.get(CHANGELIST, {"gdpr_consent__exact": "1"})

    # then
    def counts(captured):
        return [q["sql"] for q in captured if "COUNT(" in q["sql"].upper() and "customers_customer" in q["sql"]]

    assert listing.context["cl"].result_count == 3
    assert counts(unfiltered) == []
    assert len(counts(filtered)) == 1


def test_an_alphanumeric_national_id_and_an_email_with_digits_are_both_searchable(client, customer_service):
    # given
    insured = factories.CustomerFactory(ssn="AB 12 34 56 C", ssn_hash=pii.ssn_hash("AB 12 34 56 C"))
    numbered = factories.CustomerFactory(email="john1234567@example.test")
    client.force_login(customer_service)
    # when
    by_id = search(client, "ab123456c")
    by_email = search(client, "john1234567")
    # then
    assert list(by_id.context["cl"].result_list) == [insured]
    assert list(by_email.context["cl"].result_list) == [numbered]


# --- searches that keep national ids and emails out of URLs (issue 12, item 3) ---------------------------


def _no_pii(text: str, *values: str) -> None:
    from urllib.parse import unquote_plus

    for value in values:
        assert value not in text and value not in unquote_plus(text), value


def test_the_search_box_posts_with_a_csrf_token(client, customer_service, customer):
    # given
    client.force_login(customer_service)
    # when
    html = client.get(CHANGELIST).content.decode()
    # then
    assert f'<form id="changelist-search" method="post" action="{SEARCH}"' in html
    assert 'name="csrfmiddlewaretoken"' in html.split('id="changelist-search"')[1].split("</form>")[0]


@pytest.mark.parametrize("term", [SSN, "ada@example.test", "AB 12 34 56 C"])
def test_a_national_id_or_an_email_is_exchanged_for_an_opaque_token(client, customer_service, customer, term):
    # given
    client.force_login(customer_service)
    # when
    posted = client.post(SEARCH, {"q": term})
    # then: the redirect carries a token, never the term
    assert posted.status_code == 302
    location = posted["Location"]
    assert location.startswith(CHANGELIST + "?search=")
    _no_pii(location, term, "123456789", "ada@", "example.test", "AB123456C", "6789")
    # ... and the token finds what the term finds, with no link of the page carrying the term
    listing = client.get(location)
    assert listing.status_code == 200
    if term != "AB 12 34 56 C":
        assert list(listing.context["cl"].result_list) == [customer]
    links = " ".join(part.split('"')[0] for part in listing.content.decode().split('href="')[1:])
    _no_pii(links, term, "123456789", "ada@example.test", "AB123456C")
    assert "search=" in links  # sort and filter links keep the search, as its token


def test_the_change_links_of_a_token_search_preserve_the_token_not_the_term(client, customer_service, customer):
    # given
    client.force_login(customer_service)
    listing = search(client, SSN)
    # when
    preserved = listing.context["cl"].preserved_filters
    # then
    assert "search" in preserved
    _no_pii(preserved, SSN, "123456789")


def test_a_name_or_a_policy_number_still_searches_through_q(client, customer_service, customer):
    # given
    policy = factories.PolicyFactory(customer=customer)
    client.force_login(customer_service)
    # when
    by_name = client.post(SEARCH, {"q": "lovelace"})
    by_number = client.post(SEARCH, {"q": policy.policy_number})
    # then
    assert by_name["Location"] == f"{CHANGELIST}?q=lovelace"
    assert by_number["Location"] == f"{CHANGELIST}?q={policy.policy_number}"
    assert list(client.get(by_name["Location"]).context["cl"].result_list) == [customer]


def test_a_search_keeps_the_filters_in_force(client, customer_service, customer):
    # given
    factories.CustomerFactory(ssn=SSN, ssn_hash=pii.ssn_hash(SSN), gdpr_consent=False)
    client.force_login(customer_service)
    # when
    response = search(client, SSN, gdpr_consent__exact="1")
    # then
    assert list(response.context["cl"].result_list) == [customer]
    assert response.context["cl"].params["gdpr_consent__exact"] == "1"


@pytest.mark.parametrize("term", [SSN, "123456789", "ada@example.test", "AB123456C"])
def test_a_get_with_a_national_id_or_an_email_in_q_is_refused_not_run(client, customer_service, customer, term):
    # given
    client.force_login(customer_service)
    # when
    response = client.get(CHANGELIST, {"q": term, "gdpr_consent__exact": "1"})
    # then: no search ran; the redirect drops the term and keeps the rest
    assert response.status_code == 302
    assert response["Location"] == f"{CHANGELIST}?gdpr_consent__exact=1"
    assert any("search box" in message for message in messages_of(response))


def test_a_search_token_belongs_to_the_user_who_searched(client, customer_service, customer):
    # given
    client.force_login(customer_service)
    location = client.post(SEARCH, {"q": SSN})["Location"]
    colleague = factories.staff("Customer service")
    client.force_login(colleague)
    # when
    response = client.get(location)
    # then
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    assert any("expired" in message for message in messages_of(response))


def test_a_search_token_expires(client, customer_service, customer, monkeypatch):
    # given
    from vanguard import admin_search as search_tokens

    client.force_login(customer_service)
    location = client.post(SEARCH, {"q": SSN})["Location"]
    issued = search_tokens._now()
    # when
    monkeypatch.setattr(search_tokens, "_now", lambda: issued + search_tokens.SEARCH_TOKEN_TTL + 1)
    response = client.get(location)
    # then
    assert response.status_code == 302 and response["Location"] == CHANGELIST


@pytest.mark.parametrize("token", ["nope", "A" * 32, "../../etc", "x" * 500])
def test_an_unknown_or_malformed_token_runs_no_search(client, customer_service, customer, token):
    client.force_login(customer_service)
    response = client.get(CHANGELIST, {"search": token})
    assert response.status_code == 302 and response["Location"] == CHANGELIST


def test_an_action_on_an_expired_search_does_nothing(client, compliance_officer, customer):
    # given: "select all" on a search whose token is no longer valid
    factories.CustomerFactory()
    client.force_login(compliance_officer)
    # when
    response = client.post(
        f"{CHANGELIST}?search={'A' * 32}",
        {"action": "export_personal_data", "select_across": "1", "index": "0", "_selected_action": [str(customer.pk)]},
    )
    # then: a redirect, not a download of every customer
    assert response.status_code == 302
    assert "attachment" not in response.get("Content-Disposition", "")


def test_the_search_needs_a_post_with_a_csrf_token(customer_service):
    from django.test import Client

    # given
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer_service)
    # then
    assert client.get(SEARCH, {"q": SSN}).status_code == 405
    assert client.post(SEARCH, {"q": SSN}).status_code == 403


def test_a_user_who_cannot_view_customers_cannot_search(client, customer):
    # given
    viewer = factories.UserFactory()
    client.force_login(viewer)
    # then
    assert client.post(SEARCH, {"q": SSN}).status_code == 403


def test_the_stored_term_is_encrypted_in_the_cache(client, customer_service, customer):
    # given
    from django.core.cache import cache

    from vanguard import admin_search as search_tokens

    client.force_login(customer_service)
    token = client.post(SEARCH, {"q": SSN})["Location"].split("search=")[1]
    # when
    stored = cache.get(search_tokens._cache_key(token))
    # then
    assert stored and SSN.encode() not in stored and b"123456789" not in stored
    assert token not in search_tokens._cache_key(token)


# --- look-alike e-mails (issue 12, item 4) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["ada@example.test\u200b", "\ufeffADA@example.test", "\uff41\uff44\uff41@example.test", "ada@exam\u00adple.test"],
)
def test_a_look_alike_of_an_existing_email_is_refused_on_the_form(client, customer_service, customer, email):
    # given
    client.force_login(customer_service)
    data = {"first_name": "Other", "last_name": "Person", "email": email, "gdpr_consent": "on"}
    # when
    response = client.post(ADD, data)
    # then
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Customer.objects.count() == 1


def test_an_email_typed_with_invisible_characters_is_stored_plain(client, customer_service):
    # given
    client.force_login(customer_service)
    data = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "\u200bGrace@Example.test\u200b",
        "gdpr_consent": "on",
    }
    # when
    response = client.post(ADD, data)
    # then
    assert response.status_code == 302
    assert Customer.objects.get().email == "grace@example.test"


@pytest.mark.parametrize("term", [SSN, "123456789", "ada@example.test", "ada@"])
def test_the_customer_autocomplete_never_matches_a_national_id_or_an_email(client, underwriter, customer, term):
    # The autocomplete widget sends its term in a GET URL: a national id or an e-mail typed there finds nothing,
    # so the posting search box is the only way to look one up.
    client.force_login(underwriter)
    url = (
        reverse("admin:autocomplete")
        + "?"
        + urlencode({"app_label": "policies", "model_name": "policy", "field_name": "customer", "term": term})
    )
    response = client.get(url)
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_the_customer_autocomplete_still_finds_names(client, underwriter, customer):
    client.force_login(underwriter)
    url = reverse("admin:autocomplete") + "?app_label=policies&model_name=policy&field_name=customer&term=lovel"
    response = client.get(url)
    assert [r["id"] for r in response.json()["results"]] == [str(customer.pk)]


def test_the_customers_policies_show_money_and_the_term(client, compliance_officer, customer):
    # given
    factories.PolicyFactory(customer=customer, premium_amount=Decimal("1234.50"), coverage_amount=Decimal("405266.00"))
    client.force_login(compliance_officer)
    # when
    html = client.get(change_url(customer)).content.decode()
    # then
    assert "Premium (EUR)" in html and "1,234.50" in html and "405,266.00" in html and "Term" in html


def test_a_phone_number_searched_on_the_customers_list_travels_as_a_token(client, customer_service, customer):
    # The other changelists keep "+44…" out of the URL; the customers list, which holds the phones, does too.
    client.force_login(customer_service)
    location = client.post(SEARCH, {"q": "+44 20 7123 4567"})["Location"]
    assert "?search=" in location and "7123" not in location


def test_the_all_claims_link_of_a_customer_lists_that_customers_claims_only(client, superuser, customer):
    # given: more claims than the customer page shows, over two policies, and another customer's claim
    from customers.admin import CLAIMS_SHOWN

    policies = [factories.PolicyFactory(customer=customer) for _ in range(2)]
    mine = {factories.ClaimFactory(policy=policies[i % 2]).pk for i in range(CLAIMS_SHOWN + 1)}
    factories.ClaimFactory()
    client.force_login(superuser)
    page = client.get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    link = reverse("admin:claims_claim_changelist") + f"?customer__id__exact={customer.pk}"
    assert f"href='{link}'" in page
    # when
    response = client.get(link)
    # then: the changelist accepts the filter and lists exactly this customer's claims
    assert response.status_code == 200
    assert {claim.pk for claim in response.context["cl"].result_list} == mine
