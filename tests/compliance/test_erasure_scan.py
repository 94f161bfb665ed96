"""GDPR erasure leaves nothing of the person in clear (SPEC §7.2, issue 12): every value they ever had (current
and former), and its meaningful parts, is gone from every text, JSON and bytea column of every table."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from auditlog.context import set_actor
from django.contrib.admin.models import CHANGE
from django.contrib.admin.models import LogEntry as AdminLogEntry
from django.db import connection
from django.test import Client
from django.utils import timezone

from claims import services as claim_services
from claims.financials import services as financials
from claims.financials.verify import verify_claim_financials
from claims.models import Claim, ClaimPayment
from compliance import chain, keys, services
from compliance.models import AuditEntry
from customers import services as customer_services
from customers.models import Customer
from policies import services as policy_services
from tests import factories
from vanguard.api_support.models import LoginAttempt
from vanguard.core.errors import Conflict

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
EMAIL = "ottoline.vexleigh@example.test"
FORMER = {
    "first_name": "Ottilie",
    "last_name": "Vexleigh",
    "phone": "+447700900456",
    "address": "Larkspur Cottage, 3 Quillon Street, Amblecote DY8 4QX",
    "ssn": "QQ123456C",
    "date_of_birth": dt.date(1980, 2, 28),
}
CURRENT = {
    "first_name": "Ottoline",
    "last_name": "Marchbank",
    "phone": "+447700900789",
    "address": "99 Grimwald Lane, Thornbury, BS35 1AA",
    "ssn": "QQ654321D",
    "date_of_birth": dt.date(1980, 2, 29),
}
# Every value the person ever had and the parts of them that identify them on their own (the rule is in
# compliance.services._needles). A street name without its number, a town and a house number are not.
NEEDLES = [
    EMAIL,
    *(
        value.isoformat() if isinstance(value, dt.date) else value
        for values in (FORMER, CURRENT)
        for value in values.values()
    ),
    "Ottilie Vexleigh",
    "Ottoline Vexleigh",
    "Ottoline Marchbank",
    "Larkspur Cottage",
    "3 Quillon Street",
    "DY8 4QX",
    "DY8",
    "99 Grimwald Lane",
    "BS35 1AA",
    "BS35",
    "Ottie Vex",  # the name she was paid under (a claim payment to the policyholder)
]
PAYEE_ACCOUNT = "GB29NWBK60161331926819"
# Shares the street (not the house number) and the town: an unrelated customer, whose data stays.
NEIGHBOUR = {
    "first_name": "Bartholomew",
    "last_name": "Penhaligon",
    "email": "b.penhaligon@example.test",
    "phone": "+447700900111",
    "address": "12 Grimwald Lane, Thornbury, BS35 1AB",
}


def _seed_person(actor) -> tuple[Customer, Claim]:
    """The person through every path the tester found: edits of every personal field, partial mentions in
    free text, an underscored surname in a file name, an admin log entry and a failed staff sign-in."""
    now = timezone.now()
    with set_actor(actor, remote_addr="10.0.0.7"):
        customer = customer_services.customer_create(actor=actor, email=EMAIL, gdpr_consent=True, **FORMER)
        policy = policy_services.policy_create(
            actor=actor,
            customer_id=customer.pk,
            policy_type="home",
            premium_amount=Decimal("500.00"),
            coverage_amount=Decimal("50000.00"),
            start_date=now - dt.timedelta(days=60),
            end_date=now + dt.timedelta(days=300),
        )
        claim = claim_services.claim_create(
            actor=actor,
            policy_id=policy.pk,
            claim_type="accident",
            claim_amount=Decimal("800.00"),
            description="Mrs Vexleigh (+447700900456) slipped outside Larkspur Cottage; post to DY8 4QX",
            incident_date=now - dt.timedelta(days=2),
        )
        claim_services.claim_document_add(
            actor=actor, claim_id=claim.pk, fileobj=io.BytesIO(PDF), filename="Vexleigh_medical_note.pdf"
        )
        customer_services.customer_update(actor=actor, customer_id=customer.pk, **CURRENT)
        claim_services.claim_deny(actor=actor, claim_id=claim.pk, reason="Ms Marchbank was not insured for it")
        # A paid claim (SPEC §10): the policyholder paid under another spelling of her name, a garage paid too.
        paid = claim_services.claim_create(
            actor=actor,
            policy_id=policy.pk,
            claim_type="damage",
            claim_amount=Decimal("600.00"),
            description="Storm damage to the porch",
            incident_date=now - dt.timedelta(days=1),
        )
        claim_services.claim_approve(actor=actor, claim_id=paid.pk)
        for payee, account, own, amount in (
            ("Ottie Vex", PAYEE_ACCOUNT, True, "400.00"),
            ("Northgate Joinery", "", False, "200.00"),
        ):
            payment = financials.payment_request(
                actor=actor,
                claim_id=paid.pk,
                cost_type="indemnity",
                amount=Decimal(amount),
                payee_name=payee,
                payee_account=account,
                payee_is_policyholder=own,
                method="bank_transfer",
                reference="Porch, Ms Marchbank",
            )
            financials.payment_issue(actor=actor, payment_id=payment.pk)
        financials.claim_reserve_set(
            actor=actor,
            claim_id=paid.pk,
            cost_type="expense",
            amount=Decimal("50.00"),
            reason="Photos from Mrs Vexleigh's neighbour",
        )
        financials.recovery_record(
            actor=actor, claim_id=paid.pk, kind="other", amount=Decimal("20.00"), source="Ottoline Marchbank (excess)"
        )
        policy_services.policy_cancel(actor=actor, policy_id=policy.pk, reason="Moved to 99 Grimwald Lane")
    # What the admin writes when a document is added inline to a claim, and when the customer is changed.
    AdminLogEntry.objects.log_actions(
        user_id=actor.pk,
        queryset=[claim],
        action_flag=CHANGE,
        single_object=True,
        change_message=[{"added": {"name": "claim document", "object": "Vexleigh_medical_note.pdf"}}],
    )
    AdminLogEntry.objects.log_actions(
        user_id=actor.pk,
        queryset=[Customer.objects.get(pk=customer.pk)],
        action_flag=CHANGE,
        single_object=True,
        change_message=[{"changed": {"fields": ["Last name", "Address"]}}],
    )
    # A staff sign-in typed with the customer's e-mail, through the real admin login (mixed case, as typed).
    Client(REMOTE_ADDR="10.0.0.8").post("/admin/login/", {"username": EMAIL.title(), "password": "wrong"})
    return Customer.objects.get(pk=customer.pk), claim


def _columns() -> list[tuple[str, str, str]]:
    """Every text-like column of every table, from the catalogue (a new table is covered by itself)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.data_type IN "
            "('text', 'character varying', 'character', 'json', 'jsonb', 'bytea', 'ARRAY', 'USER-DEFINED')"
        )
        return cursor.fetchall()


def _scan(needles: list[str]) -> list[str]:
    """(table.column: needle) for each needle found, case-insensitively, anywhere in any of those columns."""
    wanted = sorted({n.lower() for n in needles})
    hits = []
    with connection.cursor() as cursor:
        for table, column, data_type in _columns():
            name = connection.ops.quote_name(column)
            value = f"encode({name}, 'escape')" if data_type == "bytea" else f"{name}::text"
            # Identifiers come from the catalogue, not from input.
            cursor.execute(
                f"SELECT lower({value}) FROM {connection.ops.quote_name(table)} "  # noqa: S608
                f"WHERE {name} IS NOT NULL"
            )
            texts = [row[0] for row in cursor.fetchall()]
            hits += [f"{table}.{column}: {n}" for n in wanted if any(n in text for text in texts)]
    return hits


def _decrypted_texts() -> list[str]:
    """Every value of every encrypted field of every model, decrypted (ciphertexts are not clear text, but
    what they hold must be gone too)."""
    texts = []
    for model, fields in keys.encrypted_models():
        for row in model.objects.values_list(*[f.name for f in fields]):
            texts += [str(v).lower() for v in row if v not in (None, "")]
    return texts


def test_the_scan_sees_the_person_everywhere_before_erasure(superuser):
    # given / when
    _seed_person(superuser)
    hits = _scan(NEEDLES)

    # then: the scan can fail, in every place the tester found the person
    tables = {hit.split(":")[0] for hit in hits}
    assert {
        "claims_claimpayment.payee_name",
        "claims_claimpayment.reference",
        "claims_reservechange.reason",
        "claims_claimrecovery.source",
    } <= tables
    assert {
        "claims_claim.description",
        "claims_claimdocument.filename",
        "policies_policy.cancellation_reason",
        "policies_policyevent.reason",
        "policies_policyevent.data",
        "compliance_auditentry.changes",
        "compliance_auditentry.object_repr",
        "django_admin_log.change_message",
        "django_admin_log.object_repr",
        "api_support_loginattempt.username",
    } <= tables
    assert LoginAttempt.objects.filter(username=EMAIL).exists()


def test_erasure_removes_every_value_the_person_ever_had(superuser, compliance_officer):
    # given
    customer, claim = _seed_person(superuser)

    # when
    with set_actor(compliance_officer, remote_addr="10.0.0.9"):
        services.customer_erase(
            actor=compliance_officer,
            customer_id=customer.pk,
            interface="api",
            reason="Subject request from Ottoline Marchbank",
        )

    # then: nothing of the person in any column of any table, nor inside any ciphertext
    assert _scan(NEEDLES) == []
    decrypted = _decrypted_texts()
    assert [n for n in NEEDLES if any(n.lower() in text for text in decrypted)] == []
    customer.refresh_from_db()
    assert (customer.phone, customer.address, customer.ssn, customer.date_of_birth) == ("", "", "", None)
    # identifiers keep their shape, the records keep their meaning
    claim.refresh_from_db()
    assert claim.documents.get().filename == "[erased]_medical_note.pdf"
    assert claim.description == "Mrs [erased] ([erased]) slipped outside [erased]; post to [erased]"
    assert claim.policy.cancellation_reason == "Moved to [erased]"
    # the payments keep every amount; the policyholder as payee is anonymised, the garage stays
    payments = {p.amount: p for p in ClaimPayment.objects.filter(claim__policy__customer=customer)}
    assert (payments[Decimal("400.00")].payee_name, payments[Decimal("400.00")].payee_account) == ("Erased", "")
    assert payments[Decimal("200.00")].payee_name == "Northgate Joinery"
    assert {p.reference for p in payments.values()} == {"Porch, Ms [erased]"}
    assert {(p.status, p.cost_type) for p in payments.values()} == {("issued", "indemnity")}
    assert verify_claim_financials() == []  # the stored totals still agree with the rows
    assert LoginAttempt.objects.filter(username="[erased]", outcome="failed").count() == 1
    report = chain.verify_chain()
    assert report.ok, report.first_break


def test_a_payment_not_yet_issued_holds_the_erasure(superuser, compliance_officer):
    # given: a paid claim with an expense payment approved but not yet issued, on a cancelled policy
    customer, _ = _seed_person(superuser)
    paid = Claim.objects.get(policy__customer=customer, status="paid")
    waiting = financials.payment_request(
        actor=superuser,
        claim_id=paid.pk,
        cost_type="expense",
        amount=Decimal("50.00"),
        payee_name="Ottie Vex",
        payee_is_policyholder=True,
        method="cheque",
    )

    # when / then: refused naming the payment, nothing erased
    with pytest.raises(Conflict, match=f"1 payment awaiting issue \\({waiting.payment_number} approved\\)"):
        services.customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="api")
    assert Customer.objects.get(pk=customer.pk).erased_at is None
    assert ClaimPayment.objects.get(pk=waiting.pk).payee_name == "Ottie Vex"


def test_erasure_leaves_unrelated_customers_alone(superuser, compliance_officer):
    # given: a neighbour on the same street and a namesake (same first name); neither is the person
    now = timezone.now()
    with set_actor(superuser):
        neighbour = customer_services.customer_create(actor=superuser, gdpr_consent=True, **NEIGHBOUR)
        namesake = customer_services.customer_create(
            actor=superuser,
            gdpr_consent=True,
            first_name="Ottoline",
            last_name="Fairweather",
            email="o.fairweather@example.test",
        )
        policy = policy_services.policy_create(
            actor=superuser,
            customer_id=neighbour.pk,
            policy_type="home",
            premium_amount=Decimal("500.00"),
            coverage_amount=Decimal("50000.00"),
            start_date=now - dt.timedelta(days=60),
            end_date=now + dt.timedelta(days=300),
        )
        neighbour_claim = claim_services.claim_create(
            actor=superuser,
            policy_id=policy.pk,
            claim_type="flood",
            claim_amount=Decimal("300.00"),
            description="Burst main outside 12 Grimwald Lane, Thornbury; the whole of Grimwald Lane flooded",
            incident_date=now - dt.timedelta(days=3),
        )
    audit_before = {e.pk: (e.object_repr, e.changes) for e in AuditEntry.objects.all()}
    customer, _ = _seed_person(superuser)

    # when
    services.customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="admin")

    # then: their records, their audit history and their encrypted data are as they were
    neighbour_claim.refresh_from_db()
    assert neighbour_claim.description == (
        "Burst main outside 12 Grimwald Lane, Thornbury; the whole of Grimwald Lane flooded"
    )
    neighbour.refresh_from_db()
    namesake.refresh_from_db()
    assert (neighbour.address, neighbour.phone, neighbour.last_name) == (
        NEIGHBOUR["address"],
        NEIGHBOUR["phone"],
        NEIGHBOUR["last_name"],
    )
    assert (namesake.first_name, namesake.email) == ("Ottoline", "o.fairweather@example.test")
    assert {
        pk: (e.object_repr, e.changes) for pk, e in AuditEntry.objects.in_bulk(list(audit_before)).items()
    } == audit_before
    assert chain.verify_chain().ok


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("Vexleigh_medical_note.pdf", "[erased]_medical_note.pdf"),
        ("scan-vexleigh.2024.PDF", "scan-[erased].2024.PDF"),
        ("vexleighs_note", "vexleighs_note"),  # a longer word is not the name
        ("police_report", "police_report"),  # a whole choice value
        ("police_report.pdf", "[erased]_report.pdf"),
        ("POL-0A1B2C3D and CLM-DEADBEEF", "POL-0A1B2C3D and CLM-DEADBEEF"),  # record numbers are not names
    ],
)
def test_scrub_treats_identifier_separators_as_boundaries(text, scrubbed):
    # given
    needles = ["vexleigh", "police", "pol", "clm", "deadbeef"]

    # when / then
    assert chain.scrub(text, needles, keep=frozenset({"police_report"})) == scrubbed


@pytest.mark.parametrize(
    ("address", "parts", "not_parts"),
    [
        ("99 Grimwald Lane, Thornbury", {"99 grimwald lane"}, {"grimwald lane", "thornbury", "lane", "99"}),
        (
            "Flat 3, 99 Grimwald Lane\nThornbury",
            {"99 grimwald lane", "flat 3, 99 grimwald lane, thornbury"},
            {"flat 3", "flat", "thornbury"},
        ),
        (
            "Rose Cottage, Mill Lane, London SW1A 1AA",
            {"rose cottage", "sw1a 1aa", "sw1a1aa", "sw1a"},
            {"mill lane", "london", "1aa", "rose"},
        ),
    ],
)
def test_address_parts_that_identify_the_person(address, parts, not_parts):
    # given
    customer = factories.CustomerFactory.build(address=address)

    # when
    needles = set(services._needles(customer))

    # then
    assert parts <= needles
    assert not (not_parts & needles)
    assert address.lower() in needles


def test_former_values_are_kept_encrypted_until_the_erasure(superuser):
    # given: a customer whose phone and address changed
    with set_actor(superuser):
        customer = customer_services.customer_create(actor=superuser, email=EMAIL, gdpr_consent=True, **FORMER)
        customer_services.customer_update(
            actor=superuser, customer_id=customer.pk, phone=CURRENT["phone"], address=CURRENT["address"]
        )

    # when
    needles = services._needles(Customer.objects.get(pk=customer.pk))

    # then: the audit trail holds "[redacted]" for them, yet erasure still knows the former values
    assert FORMER["phone"] in needles and FORMER["address"].lower() in needles
    changes = AuditEntry.objects.filter(object_pk=str(customer.pk)).order_by("-seq").first().changes
    assert FORMER["phone"] not in json.dumps(changes)
    assert _scan([FORMER["phone"], FORMER["address"]]) == []  # encrypted at rest, never in clear


def test_export_includes_the_former_values(superuser, compliance_officer):
    # given
    with set_actor(superuser):
        customer = customer_services.customer_create(actor=superuser, email=EMAIL, gdpr_consent=True, **FORMER)
        customer_services.customer_update(
            actor=superuser, customer_id=customer.pk, last_name=CURRENT["last_name"], address=CURRENT["address"]
        )

    # when
    data = services.customer_export(actor=compliance_officer, customer_id=customer.pk, interface="api")

    # then: what is held about the person includes what they were called and where they lived
    assert {(v["field"], v["value"]) for v in data["former_values"]} == {
        ("last_name", FORMER["last_name"]),
        ("address", FORMER["address"]),
    }
    json.dumps(data)
