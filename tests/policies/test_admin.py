"""Policies in the admin: transitions through buttons and actions with the services' outcome, refusals
reported with their rule, role permissions, service-backed add/change, constant query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from policies.models import Policy, PolicyEvent
from tests import factories
from tests.admin_support import count_queries, messages_of, post_action

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:policies_policy_changelist")
ADD = reverse("admin:policies_policy_add")
S = Policy.Status


def change_url(policy: Policy) -> str:
    return reverse("admin:policies_policy_change", args=[policy.pk])


def transition_url(policy: Policy, name: str) -> str:
    return reverse("admin:policies_policy_transition", args=[policy.pk, name])


def split(moment: dt.datetime, prefix: str) -> dict[str, str]:
    return {f"{prefix}_0": f"{moment:%Y-%m-%d}", f"{prefix}_1": f"{moment:%H:%M:%S}"}


def change_data(policy: Policy, **overrides) -> dict:
    data = {
        "premium_amount": str(policy.premium_amount),
        "coverage_amount": str(policy.coverage_amount),
        **split(policy.end_date, "end_date"),
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


# --- transitions: same outcome as the services ------------------------------------------------------------


@pytest.mark.parametrize(
    ("traits", "name", "expected_status", "kind"),
    [
        ({"pending": True}, "issue", S.ACTIVE, PolicyEvent.Kind.ISSUED),
        ({}, "suspend", S.INACTIVE, PolicyEvent.Kind.SUSPENDED),
        ({"inactive": True}, "reinstate", S.ACTIVE, PolicyEvent.Kind.REINSTATED),
    ],
)
def test_object_button_runs_the_transition(client, underwriter, traits, name, expected_status, kind):
    # given
    policy = factories.PolicyFactory(**traits)
    previous = policy.status
    client.force_login(underwriter)
    # when: confirmed (issue and suspend ask first; reinstate is one click)
    response = client.post(transition_url(policy, name), {"apply": "yes"})
    # then
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.status == expected_status
    event = PolicyEvent.objects.get(policy=policy)
    assert (event.kind, event.from_status, event.to_status, event.actor) == (
        kind,
        previous,
        expected_status,
        underwriter,
    )


def test_the_change_page_offers_only_the_buttons_that_apply(client, underwriter):
    # given
    policy = factories.PolicyFactory()
    client.force_login(underwriter)
    # when
    html = client.get(change_url(policy)).content.decode()
    # then
    assert transition_url(policy, "suspend") in html and transition_url(policy, "cancel") in html
    assert transition_url(policy, "renew") in html
    assert transition_url(policy, "issue") not in html and transition_url(policy, "reinstate") not in html
    assert transition_url(policy, "audit") not in html  # compliance officers only


def test_a_button_only_accepts_post(client, underwriter):
    # given
    policy = factories.PolicyFactory(inactive=True)
    client.force_login(underwriter)
    # when
    response = client.get(transition_url(policy, "reinstate"))
    # then
    assert response.status_code == 405
    policy.refresh_from_db()
    assert policy.status == S.INACTIVE


@pytest.mark.parametrize(
    ("traits", "name", "button"),
    [
        ({"pending": True}, "issue", "Issue policy"),
        ({}, "suspend", "Suspend policy"),
        ({}, "renew", "Renew policy"),
    ],
)
def test_issue_suspend_and_renew_ask_for_confirmation_first(client, underwriter, traits, name, button):
    # given
    policy = factories.PolicyFactory(**traits)
    before = policy.status
    client.force_login(underwriter)
    # when: the button's page (GET), and a POST that is not the confirmation (an old one-click form)
    page = client.get(transition_url(policy, name))
    unconfirmed = client.post(transition_url(policy, name))
    # then: a confirmation page naming the policy and its figures; nothing changed
    html = page.content.decode()
    assert page.status_code == 200 and unconfirmed.status_code == 200
    assert f'value="{button}"' in html and policy.policy_number in html and "Go back" in html
    policy.refresh_from_db()
    assert policy.status == before
    assert not PolicyEvent.objects.filter(policy=policy).exists()
    assert not Policy.objects.filter(renewal_of=policy).exists()


def test_a_confirmation_action_asks_before_changing_the_selected_policies(client, underwriter):
    # given
    policies = factories.PolicyFactory.create_batch(2)
    client.force_login(underwriter)
    # when
    page = post_action(client, CHANGELIST, "suspend_policies", policies)
    # then
    html = page.content.decode()
    assert page.status_code == 200 and 'value="Suspend policies"' in html
    assert all(p.policy_number in html for p in policies)
    assert {Policy.objects.get(pk=p.pk).status for p in policies} == {S.ACTIVE}


def test_the_cancel_page_shows_the_policy_figures_and_loads_the_widget_scripts(client, underwriter, settings):
    # given
    settings.CURRENCY = "EUR"
    policy = factories.PolicyFactory(premium_amount=Decimal("1234.50"), coverage_amount=Decimal("405266.00"))
    client.force_login(underwriter)
    # when
    html = client.get(transition_url(policy, "cancel")).content.decode()
    # then: a title, the premium and coverage with separators and currency, the term, a plain button
    assert f"<h1>Cancel policy: {policy.policy_number}</h1>" in html
    assert "1,234.50 EUR" in html and "405,266.00 EUR" in html
    assert f"{policy.start_date:%-d %b %Y} \N{EN DASH} {policy.end_date:%-d %b %Y}" in html
    assert 'value="Cancel policy"' in html and 'class="button vanguard-go-back"' in html
    # the calendar and Today/Now shortcuts need the JavaScript catalog (gettext) before them, and core.js
    catalog = html.index(reverse("admin:jsi18n"))
    assert catalog < html.index("admin/js/calendar.js") and catalog < html.index("admin/js/admin/DateTimeShortcuts.js")
    assert "admin/js/core.js" in html
    assert "admin/css/forms.css" in html  # aligned labels


def test_the_bulk_cancel_page_loads_the_widget_scripts(client, underwriter):
    # given
    policies = factories.PolicyFactory.create_batch(2)
    client.force_login(underwriter)
    # when
    html = post_action(client, CHANGELIST, "cancel_policies", policies).content.decode()
    # then
    assert reverse("admin:jsi18n") in html and "admin/js/calendar.js" in html
    assert 'value="Cancel policies"' in html and "2 policies selected" in html


def test_cancel_button_asks_for_reason_and_effective_date(client, underwriter):
    # given
    policy = factories.PolicyFactory()
    effective = timezone.now().replace(microsecond=0) - dt.timedelta(days=2)
    client.force_login(underwriter)
    # when: the form first, then an empty reason, then a proper one
    form = client.get(transition_url(policy, "cancel"))
    empty = client.post(
        transition_url(policy, "cancel"), {"apply": "yes", "reason": "", **split(effective, "effective_date")}
    )
    done = client.post(
        transition_url(policy, "cancel"),
        {"apply": "yes", "reason": "Customer sold the car", **split(effective, "effective_date")},
    )
    # then
    assert form.status_code == 200 and 'name="reason"' in form.content.decode()
    assert empty.status_code == 200 and "This field is required." in empty.content.decode()
    assert done.status_code == 302
    policy.refresh_from_db()
    assert policy.status == S.CANCELLED
    assert policy.cancellation_reason == "Customer sold the car" and policy.cancelled_at == effective
    event = PolicyEvent.objects.get(policy=policy)
    assert event.kind == PolicyEvent.Kind.CANCELLED and event.reason == "Customer sold the car"


def test_cancel_action_applies_to_the_valid_ones_and_reports_each_refusal(client, underwriter):
    # given
    active, pending = factories.PolicyFactory(), factories.PolicyFactory(pending=True)
    expired = factories.PolicyFactory(expired=True)
    client.force_login(underwriter)
    selected = [active, pending, expired]
    # when: the intermediate page, then the confirmation
    page = post_action(client, CHANGELIST, "cancel_policies", selected)
    response = post_action(
        client,
        CHANGELIST,
        "cancel_policies",
        selected,
        apply="yes",
        reason="Fraud",
        **split(timezone.now(), "effective_date"),
    )
    # then
    assert page.status_code == 200 and "Cancellation reason" in page.content.decode()
    assert response.status_code == 302
    statuses = {p.pk: Policy.objects.get(pk=p.pk).status for p in selected}
    assert statuses == {active.pk: S.CANCELLED, pending.pk: S.CANCELLED, expired.pk: S.EXPIRED}
    texts = messages_of(response)
    assert any(
        text.startswith(expired.policy_number) and "An expired policy cannot be cancelled." in text for text in texts
    )
    assert "Cancelled: 2 policies." in texts


def test_suspend_action_on_several_policies_reports_each_refusal_and_changes_nothing_else(client, underwriter):
    # given
    active = factories.PolicyFactory()
    cancelled = factories.PolicyFactory(cancelled=True)
    pending = factories.PolicyFactory(pending=True)
    client.force_login(underwriter)
    # when
    response = post_action(client, CHANGELIST, "suspend_policies", [active, cancelled, pending], apply="yes")
    # then
    texts = messages_of(response)
    assert f"{cancelled.policy_number}: A cancelled policy cannot be suspended." in texts
    assert f"{pending.policy_number}: A pending policy cannot be suspended." in texts
    assert "Suspended: 1 policy." in texts
    assert Policy.objects.get(pk=active.pk).status == S.INACTIVE
    assert Policy.objects.get(pk=cancelled.pk).status == S.CANCELLED
    assert not PolicyEvent.objects.filter(policy__in=[cancelled, pending]).exists()


def test_a_refused_button_reports_the_rule_and_changes_nothing(client, underwriter):
    # given
    policy = factories.PolicyFactory(cancelled=True)
    client.force_login(underwriter)
    # when
    response = client.post(transition_url(policy, "suspend"), {"apply": "yes"})
    # then
    assert response.status_code == 302
    assert f"{policy.policy_number}: A cancelled policy cannot be suspended." in messages_of(response)
    policy.refresh_from_db()
    assert policy.status == S.CANCELLED and not PolicyEvent.objects.exists()


def test_renew_button_writes_the_next_term_and_opens_it(client, underwriter):
    # given
    policy = factories.PolicyFactory()
    client.force_login(underwriter)
    # when
    response = client.post(transition_url(policy, "renew"), {"apply": "yes"})
    # then: the message names the new policy
    renewal = Policy.objects.get(renewal_of=policy)
    assert response.status_code == 302 and response["Location"] == change_url(renewal)
    assert f"{policy.policy_number} renewed as {renewal.policy_number}." in messages_of(response)
    assert renewal.start_date == policy.end_date and renewal.customer_id == policy.customer_id
    assert PolicyEvent.objects.filter(policy=policy, kind=PolicyEvent.Kind.RENEWED).exists()


def test_compliance_officer_records_an_audit_but_cannot_transition(client, compliance_officer):
    # given
    policy = factories.PolicyFactory()
    client.force_login(compliance_officer)
    # when
    audit = post_action(
        client,
        CHANGELIST,
        "record_audit",
        [policy],
        apply="yes",
        outcome="non_compliant",
        note="Missing proof of address",
    )
    suspend = client.post(transition_url(policy, "suspend"))
    # then
    assert audit.status_code == 302
    policy.refresh_from_db()
    assert policy.compliance_status == "non_compliant" and policy.last_audit_date is not None
    assert PolicyEvent.objects.get(policy=policy).kind == PolicyEvent.Kind.AUDITED
    assert suspend.status_code == 403
    assert policy.status == S.ACTIVE


# --- permissions per role ---------------------------------------------------------------------------------


def test_an_adjuster_cannot_add_or_edit_a_policy(client, adjuster):
    # given
    policy = factories.PolicyFactory()
    client.force_login(adjuster)
    # when
    add = client.get(ADD)
    view = client.get(change_url(policy))
    post = client.post(change_url(policy), change_data(policy, premium_amount="999.00"))
    button = client.post(transition_url(policy, "suspend"))
    action = post_action(client, CHANGELIST, "suspend_policies", [policy])
    # then
    assert add.status_code == 403
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    assert post.status_code == 403 and button.status_code == 403
    policy.refresh_from_db()
    assert policy.premium_amount == Decimal("500.00") and policy.status == S.ACTIVE
    assert action.status_code == 200  # "no action selected": the action is not offered to adjusters
    assert not PolicyEvent.objects.exists()


# --- add and change through the services ------------------------------------------------------------------


def add_data(customer, **overrides) -> dict:
    start = timezone.now().replace(microsecond=0) - dt.timedelta(days=1)
    data = {
        "customer": str(customer.pk),
        "policy_type": "home",
        "premium_amount": "450.00",
        "coverage_amount": "250000.00",
        **split(start, "start_date"),
        **split(start + dt.timedelta(days=365), "end_date"),
    }
    data.update(overrides)
    return data


def test_adding_a_policy_goes_through_the_service(client, underwriter):
    # given
    customer = factories.CustomerFactory()
    client.force_login(underwriter)
    # when
    response = client.post(ADD, add_data(customer))
    # then
    assert response.status_code == 302
    policy = Policy.objects.get()
    assert policy.policy_number.startswith("POL-") and policy.status == S.ACTIVE
    assert PolicyEvent.objects.get(policy=policy).kind == PolicyEvent.Kind.CREATED


def test_a_premium_below_the_minimum_is_shown_on_the_form_and_nothing_is_saved(client, underwriter):
    # given
    customer = factories.CustomerFactory()
    client.force_login(underwriter)
    # when
    response = client.post(ADD, add_data(customer, premium_amount="50.00"))
    # then
    assert response.status_code == 200
    assert "The premium 50.00 EUR is below the minimum of 100.00 EUR for home policies." in response.content.decode()
    assert not Policy.objects.exists() and not PolicyEvent.objects.exists()


def test_end_before_start_is_shown_on_the_form(client, underwriter):
    # given
    customer = factories.CustomerFactory()
    client.force_login(underwriter)
    start = timezone.now()
    # when
    response = client.post(ADD, add_data(customer, **split(start - dt.timedelta(days=3), "end_date")))
    # then
    assert response.status_code == 200
    assert "The end date must be after the start date." in response.content.decode()
    assert not Policy.objects.exists()


def test_changing_the_premium_goes_through_the_service(client, underwriter):
    # given
    policy = factories.PolicyFactory()
    client.force_login(underwriter)
    # when
    response = client.post(change_url(policy), change_data(policy, premium_amount="650.00"))
    # then
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.premium_amount == Decimal("650.00")
    event = PolicyEvent.objects.get(policy=policy)
    assert event.kind == PolicyEvent.Kind.UPDATED and event.data["premium_amount"]["to"] == "650.00"


def test_status_and_money_are_read_only_on_a_cancelled_policy(client, underwriter):
    # given
    policy = factories.PolicyFactory(cancelled=True)
    client.force_login(underwriter)
    # when
    html = client.get(change_url(policy)).content.decode()
    client.post(change_url(policy), change_data(policy, premium_amount="900.00", status="active"))
    # then
    assert 'name="premium_amount"' not in html and 'name="status"' not in html
    policy.refresh_from_db()
    assert policy.premium_amount == Decimal("500.00") and policy.status == S.CANCELLED


# --- query counts ----------------------------------------------------------------------------------------


def test_changelist_runs_the_same_number_of_queries_for_2_and_22_policies(client, underwriter):
    # given
    factories.PolicyFactory.create_batch(2)
    client.force_login(underwriter)
    client.get(CHANGELIST)
    # when
    with_two = count_queries(client, CHANGELIST)
    factories.PolicyFactory.create_batch(20)
    with_twenty_two = count_queries(client, CHANGELIST)
    # then
    assert with_two == with_twenty_two


def test_autocomplete_for_customers_runs_a_constant_number_of_queries(client, underwriter):
    # given
    factories.CustomerFactory.create_batch(2, last_name="Smith")
    client.force_login(underwriter)
    url = reverse("admin:autocomplete") + "?app_label=policies&model_name=policy&field_name=customer&term=smi"
    client.get(url)
    # when
    few = count_queries(client, url)
    factories.CustomerFactory.create_batch(20, last_name="Smith")
    many = count_queries(client, url)
    # then
    assert few == many


def test_search_by_policy_number_or_customer(client, underwriter):
    # given
    policy = factories.PolicyFactory(customer__last_name="Hopper")
    factories.PolicyFactory()
    client.force_login(underwriter)
    # when / then
    for term in (policy.policy_number, policy.policy_number.lower(), "hopper"):
        assert list(client.get(CHANGELIST, {"q": term}).context["cl"].result_list) == [policy]


# --- the list: money, the term, columns that fit -----------------------------------------------------------


def test_the_list_shows_money_with_separators_and_the_currency_and_one_term_column(client, underwriter, settings):
    # given
    settings.CURRENCY = "EUR"
    policy = factories.PolicyFactory(premium_amount=Decimal("1234.50"), coverage_amount=Decimal("405266.00"))
    client.force_login(underwriter)
    # when
    html = client.get(CHANGELIST).content.decode()
    # then: the currency in the money headers, amounts grouped, right-aligned money_* columns, start and end
    assert "Premium (EUR)" in html and "Coverage (EUR)" in html
    assert '<td class="field-money_premium">1,234.50</td>' in html
    assert '<td class="field-money_coverage">405,266.00</td>' in html
    assert "405266.00" not in html
    assert f"{policy.start_date:%-d %b %Y} \N{EN DASH} {policy.end_date:%-d %b %Y}" in html
    assert "column-start_date" not in html and "column-end_date" not in html


def test_a_settled_policys_read_only_amounts_show_the_currency(client, underwriter):
    # given
    policy = factories.PolicyFactory(cancelled=True, premium_amount=Decimal("1234.50"))
    client.force_login(underwriter)
    # when
    html = client.get(change_url(policy)).content.decode()
    # then
    assert "1,234.50 EUR" in html and 'name="premium_amount"' not in html


def test_the_admin_stylesheet_keeps_list_cells_on_one_line_and_money_right_aligned(client, underwriter):
    # given
    from django.contrib.staticfiles import finders

    client.force_login(underwriter)
    # when
    html = client.get(CHANGELIST).content.decode()
    with open(finders.find("vanguard/admin.css"), encoding="utf-8") as stylesheet:
        css = stylesheet.read()
    # then: the base template loads it, and it holds the rules the list relies on
    assert "vanguard/admin.css" in html
    assert "#result_list td, #result_list th { white-space: nowrap;" in css
    assert '#result_list td[class*="field-money_"]' in css and "text-align: right" in css
