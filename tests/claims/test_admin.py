"""Claims in the admin: every transition through a button or an action with the services' outcome,
authority limits and refusals reported per claim, document upload and download, constant query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from claims import services as claim_services
from claims.models import Claim, ClaimDocument, ClaimEvent
from tests import factories
from tests.admin_support import count_queries, messages_of, post_action

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:claims_claim_changelist")
ADD = reverse("admin:claims_claim_add")
S = Claim.Status
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64 + b"PE\x00\x00" + b"\x00" * 64


def change_url(claim: Claim) -> str:
    return reverse("admin:claims_claim_change", args=[claim.pk])


def transition_url(claim: Claim, name: str) -> str:
    return reverse("admin:claims_claim_transition", args=[claim.pk, name])


def status_event(claim: Claim) -> ClaimEvent:
    return ClaimEvent.objects.get(claim=claim, kind=ClaimEvent.Kind.STATUS_CHANGED)


# --- each transition once, same outcome as the service ---------------------------------------------------


@pytest.mark.parametrize(
    ("traits", "name", "expected"),
    [
        ({}, "start", S.PROCESSING),
        ({"settled": True}, "paid", S.PAID),  # approved, its approved amount issued (SPEC §10.2)
        ({"paid": True}, "close", S.CLOSED),
        ({"denied": True}, "close", S.CLOSED),
    ],
)
def test_object_button_runs_the_transition(client, adjuster, traits, name, expected):
    # given
    claim = factories.ClaimFactory(**traits)
    previous = claim.status
    client.force_login(adjuster)
    # when
    response = client.post(transition_url(claim, name))
    # then
    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == expected
    event = status_event(claim)
    assert (event.from_status, event.to_status, event.actor) == (previous, expected, adjuster)


def test_start_processing_assigns_the_claim_to_the_adjuster(client, adjuster):
    # given
    claim = factories.ClaimFactory()
    client.force_login(adjuster)
    # when
    post_action(client, CHANGELIST, "start_processing", [claim])
    # then
    claim.refresh_from_db()
    assert claim.status == S.PROCESSING and claim.assigned_to == adjuster


def test_approve_button_asks_the_amount_defaulting_to_the_claim_amount(client, adjuster):
    # given
    claim = factories.ClaimFactory(processing=True, claim_amount=Decimal("2500.00"))
    client.force_login(adjuster)
    field = f"amount_{claim.pk}"
    # when
    form = client.get(transition_url(claim, "approve"))
    response = client.post(transition_url(claim, "approve"), {"apply": "yes", field: "2000.00", "note": "Depreciation"})
    # then
    assert form.status_code == 200
    assert form.context["form"].fields[field].initial == Decimal("2500.00")
    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == S.APPROVED and claim.approved_amount == Decimal("2000.00")
    assert claim.decided_by == adjuster and claim.processed_date is not None
    event = status_event(claim)
    assert event.data["amount"] == "2000.00" and event.to_status == S.APPROVED


def test_approve_action_applies_within_authority_and_reports_the_limit(client, adjuster):
    # given: the adjuster's authority is 10,000.00
    small = factories.ClaimFactory(claim_amount=Decimal("800.00"))
    large = factories.ClaimFactory(claim_amount=Decimal("25000.00"))
    client.force_login(adjuster)
    selected = [small, large]
    # when
    page = post_action(client, CHANGELIST, "approve_claims", selected)
    response = post_action(
        client,
        CHANGELIST,
        "approve_claims",
        selected,
        apply="yes",
        **{f"amount_{small.pk}": "800.00", f"amount_{large.pk}": "25000.00"},
    )
    # then
    assert page.status_code == 200
    texts = messages_of(response)
    assert f"{large.claim_number}: Approval of 25,000.00 EUR exceeds your authority limit of 10,000.00 EUR." in texts
    assert "Approved: 1 claim." in texts
    assert Claim.objects.get(pk=small.pk).status == S.APPROVED
    large.refresh_from_db()
    assert large.status == S.PENDING and large.approved_amount is None
    assert not ClaimEvent.objects.filter(claim=large).exists()


def test_deny_action_asks_the_reason_and_denies_each_claim(client, adjuster):
    # given
    claims = factories.ClaimFactory.create_batch(2)
    client.force_login(adjuster)
    # when
    missing = post_action(client, CHANGELIST, "deny_claims", claims, apply="yes", reason="")
    response = post_action(client, CHANGELIST, "deny_claims", claims, apply="yes", reason="Not covered by the policy")
    # then
    assert missing.status_code == 200 and "This field is required." in missing.content.decode()
    assert response.status_code == 302
    for claim in claims:
        claim.refresh_from_db()
        assert claim.status == S.DENIED and claim.decision_reason == "Not covered by the policy"
        assert status_event(claim).reason == "Not covered by the policy"


def test_assign_to_me_action(client, adjuster):
    # given
    claim = factories.ClaimFactory()
    client.force_login(adjuster)
    # when
    response = post_action(client, CHANGELIST, "assign_to_me", [claim])
    # then
    assert "Assigned to you: 1 claim." in messages_of(response)
    claim.refresh_from_db()
    assert claim.assigned_to == adjuster
    assert ClaimEvent.objects.get(claim=claim).kind == ClaimEvent.Kind.ASSIGNED


def test_reopen_is_for_managers_only(client, adjuster, manager):
    # given
    claim = factories.ClaimFactory(denied=True)
    # when
    client.force_login(adjuster)
    refused = client.post(transition_url(claim, "reopen"))
    client.force_login(manager)
    response = post_action(client, CHANGELIST, "reopen_claims", [claim], apply="yes", reason="New invoice")
    # then
    assert refused.status_code == 403
    assert "Reopened: 1 claim." in messages_of(response)
    claim.refresh_from_db()
    assert claim.status == S.PROCESSING and claim.decision_reason == ""
    assert status_event(claim).actor == manager


def test_reopen_asks_for_a_reason_and_records_it(client, manager):
    # given
    claim = factories.ClaimFactory(denied=True)
    client.force_login(manager)
    # when: the button's page, an empty reason, then a reason
    page = client.get(transition_url(claim, "reopen"))
    empty = client.post(transition_url(claim, "reopen"), {"apply": "yes", "reason": "  "})
    claim.refresh_from_db()
    status_after_empty = claim.status
    done = client.post(transition_url(claim, "reopen"), {"apply": "yes", "reason": "The customer sent new photos"})
    # then
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    assert 'value="Reopen claim"' in page.content.decode()
    assert empty.status_code == 200 and status_after_empty == S.DENIED
    assert done.status_code == 302
    assert f"{claim.claim_number} reopened: back in processing." in messages_of(done)
    claim.refresh_from_db()
    event = ClaimEvent.objects.filter(claim=claim, kind=ClaimEvent.Kind.STATUS_CHANGED).latest("created_at")
    assert claim.status == S.PROCESSING and event.reason == "The customer sent new photos"


def test_the_approve_page_shows_the_claim_figures_and_the_users_own_authority(client, adjuster, settings):
    # given: the adjuster's authority is 10,000.00
    settings.CURRENCY = "EUR"
    policy = factories.PolicyFactory(coverage_amount=Decimal("405266.00"))
    claim = factories.ClaimFactory(policy=policy, processing=True, claim_amount=Decimal("12500.00"))
    client.force_login(adjuster)
    # when
    html = client.get(transition_url(claim, "approve")).content.decode()
    # then
    assert f"<h1>Approve claim: {claim.claim_number}</h1>" in html
    assert "12,500.00 EUR" in html and "405,266.00 EUR" in html and "Approved so far" in html
    assert "Your approval authority: 10,000.00 EUR per claim." in html
    assert 'value="Approve claim"' in html and "Go back" in html


def test_an_approval_above_authority_keeps_the_typed_amount_and_names_the_limit(client, adjuster):
    # given
    claim = factories.ClaimFactory(processing=True, claim_amount=Decimal("25000.00"))
    client.force_login(adjuster)
    field = f"amount_{claim.pk}"
    # when
    response = client.post(
        transition_url(claim, "approve"), {"apply": "yes", field: "24000.00", "note": "Depreciation applied"}
    )
    # then: the same form, with what was typed and the rule that refused it
    html = response.content.decode()
    assert response.status_code == 200
    assert "exceeds your authority limit of 10,000.00 EUR" in html
    assert 'value="24000.00"' in html and "Depreciation applied" in html
    claim.refresh_from_db()
    assert claim.status == S.PROCESSING and claim.approved_amount is None


def test_an_approval_names_the_amount(client, adjuster):
    # given
    claim = factories.ClaimFactory(processing=True, claim_amount=Decimal("2500.00"))
    client.force_login(adjuster)
    # when
    response = client.post(transition_url(claim, "approve"), {"apply": "yes", f"amount_{claim.pk}": "2000.00"})
    # then
    assert f"{claim.claim_number} approved for 2,000.00 EUR." in messages_of(response)


def test_a_bulk_approval_refused_for_every_claim_keeps_the_typed_amounts(client, adjuster):
    # given
    claims = [factories.ClaimFactory(claim_amount=Decimal("25000.00")) for _ in range(2)]
    client.force_login(adjuster)
    amounts = {f"amount_{claim.pk}": "20000.00" for claim in claims}
    # when
    response = post_action(client, CHANGELIST, "approve_claims", claims, apply="yes", **amounts)
    # then
    html = response.content.decode()
    assert response.status_code == 200 and html.count('value="20000.00"') == 2
    assert all(f"{claim.claim_number}: Approval of 20,000.00 EUR exceeds" in html for claim in claims)
    assert {Claim.objects.get(pk=claim.pk).status for claim in claims} == {S.PENDING}


def test_a_refused_transition_reports_the_rule_and_changes_nothing(client, adjuster):
    # given
    claim = factories.ClaimFactory()
    client.force_login(adjuster)
    # when
    response = client.post(transition_url(claim, "paid"))
    # then
    assert f"{claim.claim_number}: A pending claim cannot be marked paid." in messages_of(response)
    claim.refresh_from_db()
    assert claim.status == S.PENDING and not ClaimEvent.objects.exists()


def test_mark_paid_on_several_claims_applies_to_the_approved_ones_and_reports_the_others(client, adjuster):
    # given: an approved claim whose approved amount was issued, one with nothing issued yet, a pending, a closed
    approved = factories.ClaimFactory(settled=True)
    unpaid = factories.ClaimFactory(approved=True)
    pending, closed = factories.ClaimFactory(), factories.ClaimFactory(closed=True)
    client.force_login(adjuster)
    # when
    response = post_action(client, CHANGELIST, "mark_paid", [approved, unpaid, pending, closed])
    # then
    texts = messages_of(response)
    assert f"{pending.claim_number}: A pending claim cannot be marked paid." in texts
    assert f"{closed.claim_number}: A closed claim cannot be marked paid." in texts
    assert (
        f"{unpaid.claim_number}: The claim cannot be marked paid: 1,000.00 EUR of the approved 1,000.00 EUR is "
        "unpaid (issue its payments first)."
    ) in texts
    assert "Marked paid: 1 claim." in texts
    assert [Claim.objects.get(pk=c.pk).status for c in (approved, unpaid, pending, closed)] == [
        S.PAID,
        S.APPROVED,
        S.PENDING,
        S.CLOSED,
    ]


def test_customer_service_sees_claims_but_runs_no_transition(client, customer_service):
    # given
    claim = factories.ClaimFactory()
    client.force_login(customer_service)
    # when
    listing = client.get(CHANGELIST)
    view = client.get(change_url(claim))
    button = client.post(transition_url(claim, "start"))
    # then
    assert listing.status_code == 200 and listing.context["action_form"] is None
    assert view.status_code == 200 and transition_url(claim, "start") not in view.content.decode()
    assert button.status_code == 403
    claim.refresh_from_db()
    assert claim.status == S.PENDING


def test_the_change_form_keeps_status_and_money_read_only(client, adjuster):
    # given
    claim = factories.ClaimFactory()
    client.force_login(adjuster)
    # when
    html = client.get(change_url(claim)).content.decode()
    client.post(
        change_url(claim),
        {**upload_data(claim), "status": "approved", "approved_amount": "1000.00", "claim_amount": "1.00"},
    )
    # then
    for name in ("status", "approved_amount", "claim_amount", "decision_reason"):
        assert f'name="{name}"' not in html
    claim.refresh_from_db()
    assert claim.status == S.PENDING and claim.approved_amount is None and claim.claim_amount == Decimal("1000.00")


# --- add and change through the services ------------------------------------------------------------------


def test_filing_a_claim_over_the_coverage_is_refused_on_the_form(client, adjuster):
    # given
    policy = factories.PolicyFactory(coverage_amount=Decimal("5000.00"))
    client.force_login(adjuster)
    incident = policy.start_date + dt.timedelta(days=1)  # noon of the next day: inside the term at any hour
    data = {
        "policy": str(policy.pk),
        "claim_type": "theft",
        "claim_amount": "6000.00",
        "description": "Stolen",
        "incident_date_0": f"{incident:%Y-%m-%d}",
        "incident_date_1": "12:00:00",
        "documents-TOTAL_FORMS": "0",
        "documents-INITIAL_FORMS": "0",
    }
    # when
    refused = client.post(ADD, data)
    accepted = client.post(ADD, {**data, "claim_amount": "4000.00"})
    # then
    assert refused.status_code == 200
    refusal = "The claim amount 6,000.00 EUR exceeds the policy&#x27;s coverage of 5,000.00 EUR."
    assert refusal in refused.content.decode()
    assert accepted.status_code == 302
    claim = Claim.objects.get()
    assert claim.claim_amount == Decimal("4000.00") and claim.created_by == adjuster


def upload_data(claim: Claim, **extra) -> dict:
    return {
        "description": claim.description,
        "documents-TOTAL_FORMS": "0",
        "documents-INITIAL_FORMS": "0",
        "documents-2-TOTAL_FORMS": "1",
        "documents-2-INITIAL_FORMS": "0",
        "documents-2-0-claim": str(claim.pk),
        "documents-2-0-document_type": "photo",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        # the money's read-only inlines (claims.financials.admin)
        **{
            f"{prefix}-{count}": "0"
            for prefix in ("reserve_changes", "payments", "recoveries")
            for count in ("TOTAL_FORMS", "INITIAL_FORMS")
        },
        **extra,
    }


def test_a_png_uploaded_in_the_inline_is_stored_through_the_service(client, adjuster):
    # given
    claim = factories.ClaimFactory()
    client.force_login(adjuster)
    upload = SimpleUploadedFile("dent.png", PNG, content_type="application/octet-stream")
    # when
    response = client.post(change_url(claim), upload_data(claim, **{"documents-2-0-file": upload}))
    # then
    assert response.status_code == 302
    document = ClaimDocument.objects.get(claim=claim)
    assert document.mime_type == "image/png" and document.filename == "dent.png"
    assert document.file_size == len(PNG) and document.uploaded_by == adjuster
    assert ClaimEvent.objects.get(claim=claim).kind == ClaimEvent.Kind.DOCUMENT_ADDED


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("invoice.pdf", EXE, "File type application/x-msdownload not allowed."),
        ("notes.png", b"just some text, not an image\n" * 4, "File type unknown not allowed."),
    ],
)
def test_a_disallowed_upload_is_refused_on_the_form_and_nothing_is_saved(client, adjuster, name, content, message):
    # given: the description changes too, and must not be saved with a refused upload
    claim = factories.ClaimFactory()
    client.force_login(adjuster)
    upload = SimpleUploadedFile(name, content, content_type="image/png")
    # when
    response = client.post(
        change_url(claim), upload_data(claim, description="Changed", **{"documents-2-0-file": upload})
    )
    # then
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ClaimDocument.objects.exists()
    claim.refresh_from_db()
    assert claim.description != "Changed" and not ClaimEvent.objects.exists()


def test_an_upload_over_10_mb_is_refused_with_the_limit(client, adjuster, settings):
    # given
    settings.DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
    claim = factories.ClaimFactory()
    client.force_login(adjuster)
    upload = SimpleUploadedFile("huge.png", PNG + b"\x00" * (10 * 1024 * 1024), content_type="image/png")
    # when
    response = client.post(change_url(claim), upload_data(claim, **{"documents-2-0-file": upload}))
    # then
    assert response.status_code == 200
    assert "The file is larger than the limit of 10 MB." in response.content.decode()
    assert not ClaimDocument.objects.exists()


def test_documents_download_only_through_the_permission_checked_view(client, adjuster, underwriter):
    # given
    document = factories.ClaimDocumentFactory()
    url = reverse("admin:claims_claim_document", args=[document.claim_id, document.pk])
    # when
    client.force_login(adjuster)
    allowed = client.get(url)
    page = client.get(change_url(document.claim)).content.decode()
    client.force_login(underwriter)  # underwriters do not see claims
    refused = client.get(url)
    # then
    assert allowed.status_code == 200
    assert allowed["Content-Type"] == "image/png" and "attachment" in allowed["Content-Disposition"]
    assert b"".join(allowed.streaming_content).startswith(b"\x89PNG")
    assert url in page and document.file.name not in page
    assert refused.status_code == 403


# --- lists, filters, query counts ------------------------------------------------------------------------


def test_the_mine_filter_shows_the_claims_assigned_to_me(client, adjuster, manager):
    # given
    mine = factories.ClaimFactory(assigned_to=adjuster)
    factories.ClaimFactory(assigned_to=manager)
    factories.ClaimFactory()
    client.force_login(adjuster)
    # when
    response = client.get(CHANGELIST, {"assignee": "mine"})
    # then
    assert list(response.context["cl"].result_list) == [mine]


def test_search_by_claim_number_policy_number_and_customer(client, adjuster):
    # given
    claim = factories.ClaimFactory(policy__customer__last_name="Lovelace")
    factories.ClaimFactory()
    client.force_login(adjuster)
    # when / then
    for term in (claim.claim_number, claim.policy.policy_number, "lovelace"):
        assert list(client.get(CHANGELIST, {"q": term}).context["cl"].result_list) == [claim]


def test_changelist_runs_the_same_number_of_queries_for_2_and_22_claims(client, manager, adjuster):
    # given
    factories.ClaimFactory.create_batch(2, assigned_to=adjuster)
    client.force_login(manager)
    client.get(CHANGELIST)
    # when
    with_two = count_queries(client, CHANGELIST)
    factories.ClaimFactory.create_batch(10, assigned_to=adjuster)
    factories.ClaimFactory.create_batch(10, assigned_to=manager)
    with_twenty_two = count_queries(client, CHANGELIST)
    # then
    assert with_two == with_twenty_two


def test_change_view_query_count_does_not_grow_with_documents_and_events(client, adjuster):
    # given
    claim = factories.ClaimFactory()
    factories.ClaimDocumentFactory(claim=claim)
    client.force_login(adjuster)
    # one event naming a person already: the events inline looks the people of all its rows up in one query
    claim_services.claim_assign(actor=adjuster, claim_id=claim.pk, assignee_id=adjuster.pk)
    client.get(change_url(claim))
    # when
    few = count_queries(client, change_url(claim))
    factories.ClaimDocumentFactory.create_batch(5, claim=claim, uploaded_by=adjuster)
    other = factories.staff("Claims adjuster")
    for assignee in (other, adjuster, other):
        claim_services.claim_assign(actor=factories.staff("Claims manager"), claim_id=claim.pk, assignee_id=assignee.pk)
    many = count_queries(client, change_url(claim))
    # then
    assert few == many


def test_compliance_officers_read_claims_but_change_nothing(client, compliance_officer):
    # given
    claim = factories.ClaimFactory()
    client.force_login(compliance_officer)
    # when
    view = client.get(change_url(claim))
    post = client.post(change_url(claim), upload_data(claim, description="Changed"))
    button = client.post(transition_url(claim, "start"))
    # then
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    assert post.status_code == 403 and button.status_code == 403
    claim.refresh_from_db()
    assert claim.description != "Changed" and claim.status == S.PENDING


def test_the_policy_picker_offers_only_claimable_policies(client, adjuster):
    # given
    active = factories.PolicyFactory(customer__last_name="Turing")
    factories.PolicyFactory(cancelled=True, customer__last_name="Turing")
    factories.PolicyFactory(pending=True, customer__last_name="Turing")
    client.force_login(adjuster)
    url = reverse("admin:autocomplete") + "?app_label=claims&model_name=claim&field_name=policy&term=turing"
    # when
    response = client.get(url)
    # then
    assert [row["id"] for row in response.json()["results"]] == [str(active.pk)]


def test_a_manager_assigns_a_claim_to_an_adjuster_on_the_form_and_an_adjuster_cannot(client, manager, adjuster):
    # given
    claim = factories.ClaimFactory(processing=True, assigned_to=manager)
    client.force_login(manager)
    # when
    response = client.post(
        change_url(claim), upload_data(claim, **{"assigned_to": str(adjuster.pk), "documents-2-TOTAL_FORMS": "0"})
    )
    # then
    assert response.status_code == 302, messages_of(response)
    claim.refresh_from_db()
    assert claim.assigned_to == adjuster
    assert ClaimEvent.objects.filter(claim=claim, kind=ClaimEvent.Kind.ASSIGNED).exists()
    # and an adjuster's form has no assignee field: the same post changes nothing
    client.force_login(adjuster)
    client.post(
        change_url(claim), upload_data(claim, **{"assigned_to": str(manager.pk), "documents-2-TOTAL_FORMS": "0"})
    )
    claim.refresh_from_db()
    assert claim.assigned_to == adjuster


def test_the_list_shows_the_claimed_amount_formatted_the_assignee_by_name_and_the_age(client, adjuster):
    # given
    claim = factories.ClaimFactory(
        claim_amount=Decimal("12500.00"), assigned_to=adjuster, reported_date=timezone.now() - dt.timedelta(days=3)
    )
    client.force_login(adjuster)
    # when
    html = client.get(CHANGELIST).content.decode()
    # then
    assert "Claimed (EUR)" in html and '<td class="field-money_claimed">12,500.00</td>' in html
    assert adjuster.get_full_name() in html and "3 days" in html
    assert claim.claim_number in html


def test_the_change_page_shows_the_amounts_with_the_currency(client, adjuster):
    # given
    claim = factories.ClaimFactory(approved=True, claim_amount=Decimal("12500.00"))
    client.force_login(adjuster)
    # when
    html = client.get(change_url(claim)).content.decode()
    # then: claimed and approved, both read-only, as money
    assert html.count("12,500.00 EUR") >= 2


def test_the_policy_picker_shows_customer_type_status_and_term(client, adjuster):
    # given
    policy = factories.PolicyFactory()
    client.force_login(adjuster)
    lookup = reverse("admin:autocomplete") + "?app_label=claims&model_name=claim&field_name=policy&term="
    # when
    results = client.get(lookup + policy.policy_number).json()["results"]
    # then
    assert [row["id"] for row in results] == [str(policy.pk)]
    text = results[0]["text"]
    assert text.startswith(f"{policy.policy_number} · {policy.customer.full_name} · ")
    assert policy.get_policy_type_display() in text and "Active" in text
    assert f"{policy.start_date:%-d %b %Y} \N{EN DASH} {policy.end_date:%-d %b %Y}" in text


def test_the_policy_picker_costs_the_same_queries_for_2_and_12_policies(client, adjuster):
    # given
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    factories.PolicyFactory.create_batch(2)
    client.force_login(adjuster)
    lookup = reverse("admin:autocomplete") + "?app_label=claims&model_name=claim&field_name=policy&term="
    with CaptureQueriesContext(connection) as few:
        client.get(lookup)
    factories.PolicyFactory.create_batch(10)
    # when
    with CaptureQueriesContext(connection) as many:
        response = client.get(lookup)
    # then
    assert len(response.json()["results"]) == 12 and len(many) == len(few)
