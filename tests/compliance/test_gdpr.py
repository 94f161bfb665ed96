"""GDPR (SPEC §7.2): erasure, legal hold, subject-access export, consent withdrawal, retention."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from auditlog.context import set_actor
from django.db import connection
from django.utils import timezone

from claims import services as claim_services
from claims.models import ClaimEvent
from compliance import chain, services, tasks
from compliance.models import AuditEntry, PIIAccessLog
from customers import services as customer_services
from customers.models import Customer
from policies import services as policy_services
from policies.models import Policy, PolicyEvent
from tests import factories
from vanguard.accounts.models import system_actor
from vanguard.core.errors import Conflict, NotPermitted

pytestmark = pytest.mark.django_db

SEEDED = {
    "first_name": "Zebulon",
    "last_name": "Quattlebaum",
    "email": "zebulon.quattlebaum@example.test",
    "phone": "+447700900123",
    "address": "17 Wisteria Crescent, Little Snoring",
    "ssn": "987-65-4321",
}
BIRTH_DATE = dt.date(1971, 3, 14)


def _seeded_customer(actor) -> Customer:
    """A customer with a full history: edits, a consent withdrawal, an expired policy and a paid claim,
    all through the services so the audit trail and the events carry the person's values."""
    with set_actor(actor, remote_addr="10.0.0.7"):
        customer = customer_services.customer_create(
            actor=actor,
            date_of_birth=BIRTH_DATE,
            gdpr_consent=True,
            **{**SEEDED, "first_name": "Zeb", "address": "1 Old Road, Nowhere Quattlebaum Farm"},
        )
        customer_services.customer_update(
            actor=actor,
            customer_id=customer.pk,
            first_name=SEEDED["first_name"],
            address=SEEDED["address"],
        )
        policy = policy_services.policy_create(
            actor=actor,
            customer_id=customer.pk,
            policy_type="auto",
            premium_amount=Decimal("500.00"),
            coverage_amount=Decimal("50000.00"),
            start_date=timezone.now() - dt.timedelta(days=60),
            end_date=timezone.now() + dt.timedelta(days=300),
        )
        claim = claim_services.claim_create(
            actor=actor,
            policy_id=policy.pk,
            claim_type="accident",
            claim_amount=Decimal("800.00"),
            description=f"{SEEDED['first_name']} {SEEDED['last_name']} was rear-ended; call {SEEDED['phone']}",
            incident_date=timezone.now() - dt.timedelta(days=2),
        )
        claim_services.claim_deny(actor=actor, claim_id=claim.pk, reason=f"Driver {SEEDED['last_name']} not named")
        policy_services.policy_cancel(actor=actor, policy_id=policy.pk, reason="Customer request")
    return Customer.objects.get(pk=customer.pk)


def _text_columns() -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'bytea')"
        )
        return cursor.fetchall()


def _find_everywhere(needles: list[str]) -> list[str]:
    """Every (table.column, needle) where a needle occurs in any text or JSON column of any table."""
    hits = []
    with connection.cursor() as cursor:
        for table, column, data_type in _text_columns():
            # bytea (cached API responses; ciphertexts never match) is searched through its escaped text form.
            value = f"encode(\"{column}\", 'escape')" if data_type == "bytea" else f'"{column}"::text'
            for needle in needles:
                cursor.execute(
                    # Identifiers come from information_schema, not from input.
                    f'SELECT count(*) FROM "{table}" WHERE position(lower(%s) in lower({value})) > 0',  # noqa: S608
                    [needle],
                )
                if cursor.fetchone()[0]:
                    hits.append(f"{table}.{column}: {needle}")
    return hits


def _needles() -> list[str]:
    return [*SEEDED.values(), BIRTH_DATE.isoformat(), "Zebulon Quattlebaum", "Wisteria", "Little Snoring"]


def test_scan_finds_the_seeded_values_before_erasure(superuser):
    # given: the scan can fail — the person's values are in the database before erasure
    _seeded_customer(superuser)

    # when
    hits = _find_everywhere(_needles())

    # then
    assert any(hit.startswith("customers_customer.email") for hit in hits)
    assert any(hit.startswith("compliance_auditentry.") for hit in hits)
    assert any(hit.startswith("claims_claim.description") for hit in hits)


def test_erasure_leaves_no_trace_and_the_chain_still_verifies(superuser, compliance_officer):
    # given
    customer = _seeded_customer(superuser)
    policy_ids = set(Policy.objects.filter(customer=customer).values_list("pk", flat=True))

    # when
    with set_actor(compliance_officer, remote_addr="10.0.0.9"):
        erased = services.customer_erase(
            actor=compliance_officer, customer_id=customer.pk, interface="api", reason="Subject request"
        )

    # then: no seeded value anywhere in the database
    assert _find_everywhere(_needles()) == []
    # the person is anonymised, the financial records stay
    erased.refresh_from_db()
    assert (erased.first_name, erased.last_name) == ("Erased", "Erased")
    assert erased.email == f"erased-{customer.pk}@erased.invalid"
    assert (erased.phone, erased.address, erased.ssn, erased.ssn_hash, erased.date_of_birth) == ("", "", "", "", None)
    assert erased.erased_at is not None
    assert set(Policy.objects.filter(customer=customer).values_list("pk", flat=True)) == policy_ids
    # the erasure is itself audited, with its actor, and the chain verifies with the redactions vouched for
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry.object_pk == str(customer.pk) and entry.actor == compliance_officer
    assert entry.additional_data["gdpr_erasure"]["interface"] == "api"
    assert entry.remote_addr == "10.0.0.9"
    report = chain.verify_chain()
    assert report.ok, report.first_break
    assert report.redacted == len(entry.additional_data[chain.REDACTIONS_KEY]) > 0


def test_tampering_with_a_redacted_entry_is_still_detected(superuser, compliance_officer):
    # given
    customer = _seeded_customer(superuser)
    erasure = services.customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="admin")
    redacted_seq = min(
        int(s) for s in AuditEntry.objects.order_by("-seq").first().additional_data[chain.REDACTIONS_KEY]
    )
    assert erasure.is_erased

    # when: someone rewrites a redacted entry after the fact
    with connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_auditentry SET object_repr = 'rewritten' WHERE seq = %s", [redacted_seq])

    # then
    report = chain.verify_chain()
    assert report.first_break.seq == redacted_seq
    assert "after its GDPR redaction" in report.first_break.detail


def test_forged_redaction_record_does_not_launder_an_altered_entry(superuser, compliance_officer):
    # given: an entry altered *before* erasure is not made valid by the erasure's redaction record
    customer = _seeded_customer(superuser)
    victim = AuditEntry.objects.filter(object_pk=str(customer.pk)).order_by("seq").first()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_auditentry SET remote_addr = '6.6.6.6' WHERE id = %s", [victim.pk])

    # when
    services.customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="admin")

    # then
    assert chain.verify_chain().first_break.seq == victim.seq


@pytest.mark.parametrize(
    ("policy_trait", "claim_trait", "reason"),
    [
        ("active", None, "1 live policy"),
        ("inactive", None, "inactive"),
        ("pending", None, "pending"),
        ("expired", "pending", "1 open claim"),
        ("expired", "processing", "processing"),
        ("cancelled", "approved", "approved"),
    ],
)
def test_legal_hold_refuses_erasure_with_the_reason(compliance_officer, policy_trait, claim_trait, reason):
    # given
    policy = factories.PolicyFactory(**({policy_trait: True} if policy_trait != "active" else {}))
    number = policy.policy_number
    if claim_trait:
        claim = factories.ClaimFactory(policy=policy, **({} if claim_trait == "pending" else {claim_trait: True}))
        number = claim.claim_number
    customer = policy.customer

    # when
    with pytest.raises(Conflict) as refused:
        services.customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="api")

    # then
    assert refused.value.status_code == 409
    assert reason in refused.value.message and number in refused.value.message
    customer.refresh_from_db()
    assert customer.erased_at is None and customer.first_name != "Erased"


@pytest.mark.parametrize(
    ("policy_trait", "claim_trait"),
    [("expired", None), ("cancelled", "paid"), ("expired", "denied"), ("expired", "closed")],
)
def test_no_hold_for_closed_business(compliance_officer, policy_trait, claim_trait):
    # given
    policy = factories.PolicyFactory(**{policy_trait: True})
    if claim_trait:
        factories.ClaimFactory(policy=policy, **{claim_trait: True})

    # when
    erased = services.customer_erase(actor=compliance_officer, customer_id=policy.customer_id, interface="api")

    # then
    assert erased.is_erased


def test_erasure_is_idempotent(compliance_officer):
    # given
    customer = factories.CustomerFactory()
    first = services.customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="api")
    entries = AuditEntry.objects.count()

    # when
    again = services.customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="api")

    # then
    assert again.erased_at == first.erased_at
    assert AuditEntry.objects.count() == entries


def test_erasure_requires_the_permission(customer_service):
    # given
    customer = factories.CustomerFactory()

    # when / then
    with pytest.raises(NotPermitted):
        services.customer_erase(actor=customer_service, customer_id=customer.pk, interface="api")


def test_erased_customer_is_read_only(compliance_officer, superuser):
    # given
    customer = factories.CustomerFactory()
    services.customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="api")

    # when / then
    with pytest.raises(Conflict):
        customer_services.customer_update(actor=superuser, customer_id=customer.pk, first_name="Back")


def test_export_contains_everything(superuser, compliance_officer):
    # given
    customer = _seeded_customer(superuser)
    factories.ClaimDocumentFactory(claim=customer.policies.get().claims.get(), filename="scan.png")

    # when
    data = services.customer_export(
        actor=compliance_officer, customer_id=customer.pk, interface="api", remote_addr="10.1.1.1"
    )

    # then: JSON-serialisable, with PII in clear
    json.dumps(data)
    profile = data["customer"]
    assert {k: profile[k] for k in SEEDED} == SEEDED
    assert profile["date_of_birth"] == BIRTH_DATE.isoformat()
    assert data["consent"]["gdpr_consent"] is True and data["consent"]["gdpr_consent_date"]
    [policy] = data["policies"]
    assert policy["premium_amount"] == "500.00"
    assert [e["kind"] for e in policy["events"]] == ["created", "cancelled"]
    [claim] = data["claims"]
    assert claim["status"] == "denied" and claim["claim_amount"] == "800.00"
    assert [e["to"] for e in claim["events"] if e["kind"] == "status_changed"] == ["denied"]
    assert [d["filename"] for d in claim["documents"]] == ["scan.png"]
    assert len(data["record_history"]) == 2
    # one access-log row for the export
    [access] = PIIAccessLog.objects.filter(customer=customer)
    assert (access.actor, access.interface, access.remote_addr) == (compliance_officer, "export", "10.1.1.1")
    assert set(access.fields) >= {"phone", "date_of_birth", "address", "ssn", "email"}


def test_export_requires_the_permission(underwriter):
    # given
    customer = factories.CustomerFactory()

    # when / then
    with pytest.raises(NotPermitted):
        services.customer_export(actor=underwriter, customer_id=customer.pk, interface="api")
    assert not PIIAccessLog.objects.exists()


def test_consent_withdrawal_is_recorded_in_the_trail_and_the_export(superuser, compliance_officer):
    # given
    customer = factories.CustomerFactory()

    # when
    with set_actor(superuser):
        customer_services.customer_update(actor=superuser, customer_id=customer.pk, gdpr_consent=False)

    # then
    customer.refresh_from_db()
    assert customer.gdpr_consent is False and customer.gdpr_consent_withdrawn_at is not None
    assert customer.gdpr_consent_date is not None
    chain.seal_pending()  # as after the commit
    entry = AuditEntry.objects.filter(object_pk=str(customer.pk)).order_by("-seq").first()
    assert entry.actor == superuser
    assert entry.changes["gdpr_consent"] == [True, False] or entry.changes["gdpr_consent"] == ["True", "False"]
    assert "gdpr_consent_withdrawn_at" in entry.changes
    export = services.customer_export(actor=compliance_officer, customer_id=customer.pk, interface="admin")
    assert export["consent"]["gdpr_consent_withdrawn_at"] is not None
    assert export["consent"]["history"][-1]["changes"]["gdpr_consent"] == entry.changes["gdpr_consent"]


def test_retention_task_erases_due_customers_without_holds_as_the_system_actor():
    # given
    past = timezone.now() - dt.timedelta(days=1)
    due = factories.CustomerFactory(data_retention_date=past)
    due_with_closed_business = factories.PolicyFactory(expired=True, customer__data_retention_date=past).customer
    held = factories.PolicyFactory(customer__data_retention_date=past).customer
    held_by_claim = factories.ClaimFactory(
        processing=True, policy=factories.PolicyFactory(expired=True, customer__data_retention_date=past)
    ).policy.customer
    not_due = factories.CustomerFactory()

    # when
    erased = tasks.enforce_data_retention.delay().get()

    # then
    assert erased == 2
    state = {c.pk: c.is_erased for c in Customer.objects.all()}
    assert state[due.pk] and state[due_with_closed_business.pk]
    assert not state[held.pk] and not state[held_by_claim.pk] and not state[not_due.pk]
    entry = AuditEntry.objects.filter(object_pk=str(due.pk)).order_by("-seq").first()
    assert entry.actor == system_actor() and entry.cid
    assert entry.additional_data["gdpr_erasure"]["interface"] == "task"
    assert chain.verify_chain().ok


# --- erasure scrubs whole values and words, never parts of other values -----------------------------------

# Hex-only segments, so the names "Ada" and "Bede" also occur inside it (and "Bede" as one whole segment).
OVERLAPPING_ID = "ada0bede-ada0-4ada-bede-0000000ada00"
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    return []


@pytest.mark.parametrize(
    ("first_name", "last_name", "policy_type", "claim_type"),
    [
        ("Pen", "Ness", "business", "accident"),  # "pending", "business"
        ("Ada", "Bede", "auto", "theft"),  # inside the customer's UUID, and one whole segment of it
        ("Noah", "Flood", "home", "flood"),  # a whole choice value
    ],
)
def test_erasure_scrubs_only_the_persons_whole_values(
    superuser, compliance_officer, first_name, last_name, policy_type, claim_type
):
    # given: a customer whose names overlap choice values and ids of their own records
    customer = factories.CustomerFactory(
        id=OVERLAPPING_ID,
        first_name=first_name,
        last_name=last_name,
        email=f"{first_name}.{last_name}@example.test".lower(),
    )
    now = timezone.now()
    with set_actor(superuser):
        pending = policy_services.policy_create(
            actor=superuser,
            customer_id=customer.pk,
            policy_type=policy_type,
            premium_amount=Decimal("500.00"),
            coverage_amount=Decimal("50000.00"),
            start_date=now + dt.timedelta(days=10),
            end_date=now + dt.timedelta(days=375),
        )
        policy_services.policy_cancel(
            actor=superuser, policy_id=pending.pk, reason=f"{first_name} {last_name} changed their mind"
        )
        active = policy_services.policy_create(
            actor=superuser,
            customer_id=customer.pk,
            policy_type=policy_type,
            premium_amount=Decimal("500.00"),
            coverage_amount=Decimal("50000.00"),
            start_date=now - dt.timedelta(days=60),
            end_date=now + dt.timedelta(days=300),
        )
        claim = claim_services.claim_create(
            actor=superuser,
            policy_id=active.pk,
            claim_type=claim_type,
            claim_amount=Decimal("800.00"),
            description=f"{first_name} {last_name} reported it, pending a business review ({first_name.lower()}).",
            incident_date=now - dt.timedelta(days=2),
        )
        claim_services.claim_deny(actor=superuser, claim_id=claim.pk, reason=f"Not covered, Mr {last_name}")
        policy_services.policy_cancel(actor=superuser, policy_id=active.pk, reason="Customer request")
    related_pks = {str(pk) for pk in (pending.pk, active.pk, claim.pk)}
    events = [*PolicyEvent.objects.filter(policy__customer=customer), *ClaimEvent.objects.filter(claim=claim)]
    related_pks |= {str(event.pk) for event in events}

    # when
    services.customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="api")

    # then: the non-personal values survive, in the records and in their audit history
    entries = list(AuditEntry.objects.filter(object_pk__in=related_pks).order_by("seq"))
    created = {e.object_pk: e.changes for e in entries if e.action == AuditEntry.Action.CREATE}
    for policy in (pending, active):
        assert created[str(policy.pk)]["policy_type"][1] == policy_type
        assert created[str(policy.pk)]["customer"][1] == OVERLAPPING_ID
    assert created[str(pending.pk)]["status"][1] == "pending"
    assert created[str(claim.pk)]["claim_type"][1] == claim_type
    assert created[str(claim.pk)]["status"][1] == "pending"
    assert any(e.changes.get("status") == ["pending", "denied"] for e in entries)
    claim.refresh_from_db()
    assert claim.description == "[erased] reported it, pending a business review ([erased])."  # full name: one value
    assert claim.decision_reason == "Not covered, Mr [erased]"
    cancelled = PolicyEvent.objects.get(policy=pending, kind="cancelled")
    assert cancelled.reason == "[erased] changed their mind"
    assert cancelled.data["cancellation_reason"] == "[erased] changed their mind"
    assert Policy.objects.get(pk=pending.pk).cancellation_reason == "[erased] changed their mind"
    # and the person's values are gone everywhere (ids and choice values aside, which are not theirs)
    person = re.compile(rf"\b(?:{first_name}|{last_name})\b", re.IGNORECASE)
    texts = [s for e in entries for s in _strings([e.object_repr, e.changes, e.serialized_data, e.additional_data])]
    texts += [claim.description, claim.decision_reason, cancelled.reason, *_strings(cancelled.data)]
    left = [t for t in texts if t not in (policy_type, claim_type) and person.search(UUID_TEXT.sub("", t))]
    assert left == []
    report = chain.verify_chain()
    assert report.ok, report.first_break


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("Pen Ness, pending business", "[erased], pending business"),
        ("PEN called; pen-friend", "[erased] called; [erased]-friend"),
        ("call +447700900123.", "call [erased]."),
        ("ref 9+447700900123 and 1987-65-43210", "ref 9+447700900123 and 1987-65-43210"),
        ("at 17 Wisteria Crescent, Little Snoring today", "at [erased] today"),
        ("pen.ness@example.test wrote", "[erased] wrote"),
        (OVERLAPPING_ID, OVERLAPPING_ID),
        ("flood", "flood"),
        ("Flood", "[erased]"),
    ],
)
def test_scrub_matches_whole_values_and_words_only(text, scrubbed):
    # given
    needles = [
        "pen",
        "ness",
        "pen ness",
        "+447700900123",
        "987-65-4321",
        "17 wisteria crescent, little snoring",
        "pen.ness@example.test",
        "ada",
        "bede",
        "flood",
    ]

    # when / then
    assert chain.scrub(text, needles, keep=frozenset({"flood"})) == scrubbed


def test_export_names_who_viewed_the_persons_pii(compliance_officer, customer_service):
    # given: two staff members saw the customer's PII, through different interfaces
    customer = factories.CustomerFactory()
    services.pii_access_record(actor=customer_service, customer_id=customer.pk, fields=["phone"], interface="api")
    services.pii_access_record(
        actor=compliance_officer, customer_id=customer.pk, fields=["address", "ssn"], interface="admin"
    )

    # when
    data = services.customer_export(actor=compliance_officer, customer_id=customer.pk, interface="api")

    # then: each access names its viewer
    assert [(a["by"], a["interface"], a["fields"]) for a in data["pii_accesses"]] == [
        (customer_service.email, "api", ["phone"]),
        (compliance_officer.email, "admin", ["address", "ssn"]),
    ]
