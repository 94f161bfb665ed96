"""One day's work per role, in Chromium, against the live ASGI app with the demo book (issue 9, item 2).

Each journey uses what staff see — roles, labels, button text — and checks the outcome in the database too.
Any console error, page error, failed request or HTTP error answer on the way fails the journey
(tests/browser/conftest.py), which then leaves a screenshot under the folder its failure report names.
With SAVE_SCREENSHOTS=1 the journeys also save the README tour pictures (docs/screenshots/).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from claims.models import Claim, ClaimDocument
from customers import services as customer_services
from customers.models import Customer
from policies.models import Policy
from tests.browser.conftest import PASSWORD, sign_in, tour
from vanguard.accounts import roles
from vanguard.accounts.authority import authority_limit
from vanguard.accounts.models import User
from vanguard.seeding.files import pdf_document

pytestmark = pytest.mark.django_db(transaction=True)

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
POLICY_NUMBER = r"POL-[0-9A-F]{8}"


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def object_tool(page, label: str):
    """A button or link among the change page's object tools whose text starts with `label`."""
    return page.locator(".object-tools").get_by_text(re.compile(rf"^\s*{re.escape(label)}"))


def messages(page):
    return page.locator("ul.messagelist li")


def readonly(page, field: str):
    return page.locator(f".field-{field} .readonly")


def search(page, term: str) -> None:
    page.get_by_role("textbox", name="Search").fill(term)
    page.get_by_role("button", name="Search", exact=True).click()


# --- customer service -----------------------------------------------------------------------------------
def test_customer_service_creates_a_customer_and_finds_it_by_email_and_by_ssn(page, demo, expect):
    # given a customer-service clerk on the customer list
    sign_in(page, demo[roles.CUSTOMER_SERVICE])
    page.goto(reverse("admin:customers_customer_changelist"))
    # when they add a customer
    page.get_by_role("link", name=re.compile(r"^Add customer")).click()
    page.get_by_label("First name").fill("Nadia")
    page.get_by_label("Last name").fill("Quinn")
    page.get_by_label("Email").fill("nadia.quinn@example.com")
    page.get_by_label("Phone").fill("+447700900199")
    page.get_by_role("textbox", name=re.compile(r"National id")).fill("123-45-6799")
    page.get_by_label(re.compile(r"consent", re.IGNORECASE)).check()
    page.get_by_role("button", name="Save", exact=True).click()
    # then it is saved
    expect(messages(page).first).to_contain_text("added successfully")
    assert Customer.objects.filter(email="nadia.quinn@example.com", gdpr_consent=True).exists()

    # when they search the list by e-mail, then by national id
    for term in ("nadia.quinn@example.com", "123-45-6799"):
        search(page, term)
        # then the one customer is found, and the term never appears in the address
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Nadia Quinn")
        assert "nadia" not in page.url.lower() and "6799" not in page.url


# --- underwriter ----------------------------------------------------------------------------------------
def test_underwriter_issues_cancels_with_the_date_picker_and_renews_a_policy(page, demo, expect):
    pending = Policy.objects.get(customer__email="ben.okafor@example.com", policy_type=Policy.PolicyType.LIFE)
    active = Policy.objects.get(customer__email="alice.morgan@example.com", policy_type=Policy.PolicyType.AUTO)
    assert pending.status == Policy.Status.PENDING and active.status == Policy.Status.ACTIVE
    sign_in(page, demo[roles.UNDERWRITER])
    page.goto(reverse("admin:policies_policy_changelist"))
    tour(page, "policy-list")

    # when the underwriter issues the pending policy, confirming on the page that names it
    page.goto(change_url(pending))
    object_tool(page, "Issue").click()
    expect(page.locator("#content")).to_contain_text(pending.policy_number)
    page.get_by_role("button", name="Issue policy").click()
    # then it is active
    expect(readonly(page, "status")).to_have_text("Active")
    pending.refresh_from_db()
    assert pending.status == Policy.Status.ACTIVE

    # when they renew it, confirming first
    object_tool(page, "Renew").click()
    page.get_by_role("button", name="Renew policy").click()
    # then the message names the new policy, and its page is shown
    renewal = Policy.objects.get(renewal_of=pending)
    expect(messages(page).first).to_contain_text(re.compile(rf"renewed as {renewal.policy_number}", re.IGNORECASE))
    expect(readonly(page, "policy_number")).to_have_text(renewal.policy_number)

    # when they cancel another policy from the first of this month, picking the day in the calendar
    page.goto(change_url(active))
    object_tool(page, "Cancel").click()
    page.get_by_label("Cancellation reason").fill("Vehicle sold; the customer asked to cancel.")
    page.locator(".field-effective_date").get_by_title("Choose a Date").click()
    calendar = page.locator(".calendarbox").filter(has=page.locator(".calendar")).locator("visible=true")
    calendar.get_by_role("link", name="1", exact=True).first.click()
    page.locator(".field-effective_date").get_by_role("link", name="Now").click()
    page.get_by_role("button", name="Cancel policy").click()
    # then it is cancelled from that day, with the reason
    expect(readonly(page, "status")).to_have_text("Cancelled")
    active.refresh_from_db()
    first_of_month = timezone.localdate().replace(day=1)
    assert active.status == Policy.Status.CANCELLED
    assert timezone.localtime(active.cancelled_at).date() == first_of_month
    assert active.cancellation_reason.startswith("Vehicle sold")


# --- claims adjuster ------------------------------------------------------------------------------------
def test_adjuster_uploads_starts_approves_within_authority_and_is_refused_above_it(page, demo, expect):
    adjuster = User.objects.get(email=demo[roles.CLAIMS_ADJUSTER])
    limit = authority_limit(adjuster)
    small = Claim.objects.get(policy__customer__email="alice.morgan@example.com", claim_type=Claim.ClaimType.ACCIDENT)
    large = Claim.objects.get(
        policy__customer__email="daniel.kowalski@example.com", claim_type=Claim.ClaimType.ACCIDENT
    )
    assert small.status == Claim.Status.PENDING and small.claim_amount <= limit
    assert large.status == Claim.Status.PROCESSING and large.claim_amount > limit
    sign_in(page, adjuster.email)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    tour(page, "dashboard")

    # when the adjuster uploads a document on a pending claim
    page.goto(change_url(small))
    page.locator("input[type=file]").first.set_input_files(
        files=[
            {
                "name": "repair-estimate.pdf",
                "mimeType": "application/pdf",
                "buffer": pdf_document("Repair estimate", ["Bumper and tailgate: 1,850.00"]),
            }
        ]
    )
    # the upload row's type (the inline table labels its columns, not each cell)
    page.locator("select[name$=document_type]:visible").first.select_option(label="Estimate")
    page.get_by_role("button", name="Save and continue editing").click()
    # then it is listed and stored
    expect(page.get_by_role("link", name="repair-estimate.pdf")).to_be_visible()
    assert ClaimDocument.objects.filter(claim=small, filename="repair-estimate.pdf").exists()

    # when they start processing it, then approve it in full (within their authority)
    object_tool(page, "Start processing").click()
    expect(readonly(page, "status")).to_have_text("Processing")
    object_tool(page, "Approve").click()
    expect(page.locator("#content")).to_contain_text(f"{limit:,.2f}")  # their own limit, shown up front
    tour(page, "transition-form")
    page.get_by_role("button", name="Approve claim").click()
    # then it is approved for the amount claimed
    expect(readonly(page, "status")).to_have_text("Approved")
    small.refresh_from_db()
    assert small.status == Claim.Status.APPROVED and small.approved_amount == small.claim_amount
    tour(page, "claim")

    # when they try to approve a large claim above their authority
    above = (limit + Decimal("2000.00")).quantize(Decimal("0.01"))
    page.goto(change_url(large))
    object_tool(page, "Approve").click()
    amount = page.get_by_label(re.compile(r"amount|claimed", re.IGNORECASE)).first
    amount.fill(str(above))
    page.get_by_role("button", name="Approve claim").click()
    # then the refusal names their limit, the typed amount is still there, and nothing changed
    expect(page.locator("#content")).to_contain_text(f"authority limit of {limit:,.2f}")
    expect(amount).to_have_value(re.compile(rf"^{above:.2f}$|^{above:,.2f}$|^{int(above)}$"))
    large.refresh_from_db()
    assert large.status == Claim.Status.PROCESSING and large.approved_amount is None


# --- claims manager -------------------------------------------------------------------------------------
def test_manager_reopens_a_denied_claim_with_a_reason_and_assigns_a_claim(page, demo, expect):
    denied = Claim.objects.get(status=Claim.Status.DENIED)
    unassigned_to_adjuster = Claim.objects.get(policy__customer__email="farah.haddad@example.com")
    adjuster = User.objects.get(email=demo[roles.CLAIMS_ADJUSTER])
    sign_in(page, demo[roles.CLAIMS_MANAGER])

    # when the manager reopens the denied claim, giving a reason
    page.goto(change_url(denied))
    object_tool(page, "Reopen").click()
    page.get_by_label(re.compile(r"reason", re.IGNORECASE)).fill("New evidence from the clinic.")
    page.get_by_role("button", name="Reopen claim").click()
    # then it is back in processing, and the reason is recorded
    expect(readonly(page, "status")).to_have_text("Processing")
    denied.refresh_from_db()
    assert denied.status == Claim.Status.PROCESSING
    assert denied.events.filter(reason__contains="New evidence").exists()

    # when they assign another claim, the picker offers claims handlers only
    page.goto(change_url(unassigned_to_adjuster))
    page.locator(".field-assigned_to .select2-selection").click()
    picker = page.locator(".select2-search__field")
    picker.fill("Cora")  # the compliance officer cannot handle claims
    expect(page.locator(".select2-results__option")).to_have_text(["No results found"])
    picker.fill("Adam")
    page.locator(".select2-results__option", has_text="Adam").click()
    page.get_by_role("button", name="Save", exact=True).click()
    # then the claim is the adjuster's
    expect(messages(page).first).to_contain_text("changed successfully")
    unassigned_to_adjuster.refresh_from_db()
    assert unassigned_to_adjuster.assigned_to_id == adjuster.pk


# --- compliance officer ---------------------------------------------------------------------------------
def test_compliance_officer_exports_and_erases_and_reads_the_access_log_and_a_readable_history(page, demo, expect):
    exported = Customer.objects.get(email="emma.schmidt@example.com")
    # every demo customer holds a live policy (legal hold): a former enquirer, with none, asks to be erased
    erased = customer_services.customer_create(
        actor=User.objects.get(email=demo["superuser"]),
        email="george.hart@example.com",
        first_name="George",
        last_name="Hart",
        gdpr_consent=True,
        phone="+447700900177",
    )
    sign_in(page, demo[roles.COMPLIANCE_OFFICER])

    # when the officer exports a customer's personal data
    page.goto(change_url(exported))
    with page.expect_download() as download_info:
        object_tool(page, "Export personal data").click()
    download = download_info.value
    # then the download is the subject-access document
    assert download.suggested_filename.endswith(".json")
    document = json.loads(Path(download.path()).read_bytes())
    assert "emma.schmidt@example.com" in json.dumps(document)

    # when they erase another customer, with a reason
    page.goto(change_url(erased))
    object_tool(page, "Erase").click()
    page.get_by_label("Reason").fill("Subject request SR-2041.")
    page.get_by_role("button", name=re.compile(r"^Erase")).click()
    # then the customer is erased, and the message repeats neither their name nor their e-mail
    expect(messages(page).first).to_be_visible()
    erased.refresh_from_db()
    assert erased.erased_at is not None
    shown = page.locator("ul.messagelist").inner_text()
    assert "George" not in shown and "Hart" not in shown and "george.hart" not in shown

    # when they read the PII access log, then the export is there
    page.goto(reverse("admin:compliance_piiaccesslog_changelist"))
    expect(page.locator("#result_list tbody tr").first).to_be_visible()

    # when they read the History of a claim that was approved (created, processed, decided)
    approved = Claim.objects.get(claim_type=Claim.ClaimType.FLOOD)
    page.goto(change_url(approved))
    object_tool(page, "History").click()
    tour(page, "history")
    history = page.locator("#content")
    # then people are named by e-mail, records by number, fields by label, and no internals show
    expect(history).to_contain_text("admin@vanguard.local")
    expect(history).to_contain_text(approved.policy.policy_number)
    expect(history).to_contain_text("Approved amount")
    text = history.inner_text()
    assert not UUID.search(text), "a raw UUID is shown"
    for artefact in (".None", "Ssn hash", "ssn_hash", "\nId\n"):
        assert artefact not in text, f"{artefact!r} is shown"
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text), "a raw ISO timestamp is shown"


# --- sign-in lockout ------------------------------------------------------------------------------------
def test_six_wrong_passwords_lock_the_account_and_a_manager_lifts_the_lock(
    page, demo, expect, browser, live_server_url, browser_problems
):
    clerk = demo[roles.CUSTOMER_SERVICE]
    # when the clerk mistypes their password six times
    for attempt in range(6):
        sign_in(page, clerk, f"not-my-password-{attempt}")
    # then the sign-in page says the account is locked, and the right password does not get in yet
    expect(page.locator("#content")).to_contain_text("Too many failed sign-in attempts")
    sign_in(page, clerk)
    expect(page.locator("#content")).to_contain_text("Too many failed sign-in attempts")

    # when a manager lifts the lock from the sign-in log
    context = browser.new_context(base_url=live_server_url, viewport={"width": 1440, "height": 900})
    try:
        manager = context.new_page()
        for event, handler in (
            ("console", browser_problems.on_console),
            ("pageerror", browser_problems.on_page_error),
            ("requestfailed", browser_problems.on_request_failed),
            ("response", browser_problems.on_response),
        ):
            manager.on(event, handler)
        sign_in(manager, demo[roles.CLAIMS_MANAGER])
        manager.goto(reverse("admin:api_support_loginattempt_changelist"))
        rows = manager.locator("#result_list tbody tr").filter(has_text=clerk)
        expect(rows.first).to_be_visible()
        rows.first.get_by_role("checkbox").check()
        actions = manager.get_by_role("combobox", name=re.compile(r"action", re.IGNORECASE))
        lift = next(label for label in actions.locator("option").all_inner_texts() if "lift" in label.lower())
        actions.select_option(label=lift)
        manager.get_by_role("button", name=re.compile(r"^Go$|^Run")).click()
        expect(manager.locator("ul.messagelist li").first).to_contain_text(re.compile(r"lift", re.IGNORECASE))
    finally:
        context.close()

    # then the clerk signs in at once with the right password
    sign_in(page, clerk, PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
