"""The GDPR subject-access export (SPEC §7.2) is the schema rendered from the selectors' rows, and the document
is exactly the one the hand-built export wrote before (compliance/services.py until the split of issue 11), plus
one deliberate addition since: each claim's payments to the policyholder (issue 10, SPEC §10.1)."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from auditlog.context import set_actor
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pydantic import ValidationError

from claims import services as claim_services
from claims.financials import services as financials
from claims.models import Claim, ClaimDocument, ClaimPayment
from compliance import chain, selectors, services
from compliance.models import AuditEntry, FormerPersonalValue, PIIAccessLog
from customers import services as customer_services
from customers.models import Customer
from customers.schemas import CustomerExport
from policies import services as policy_services
from policies.models import Policy
from tests import factories

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
RETURNED_ACCOUNT = "GB29NWBK60161331926819"
POLICYHOLDER_ACCOUNT = "GB33BUKB20201555555555"
THIRD_PARTY_ACCOUNT = "DE89370400440532013000"


def _hand_built_export(customer_id: UUID, interface: str) -> dict[str, Any]:
    """The export as the hand-built service wrote it, kept verbatim as the oracle (without its permission check
    and its PII access row): the reads through the ORM and a dict written key by key. The one addition, marked
    below, is the claims' `payments` (issue 10): written the same way, by hand, from the ORM."""

    def _iso(value):
        return value.isoformat() if value is not None else None

    def _money(value):
        return str(value) if value is not None else None

    def _event(event) -> dict[str, Any]:
        return {
            "kind": event.kind,
            "from": event.from_status or None,
            "to": event.to_status or None,
            "reason": event.reason or None,
            "data": event.data,
            "at": _iso(event.created_at),
        }

    customer = Customer.objects.get(pk=customer_id)
    policies = list(
        Policy.objects.filter(customer_id=customer_id)
        .order_by("start_date", "policy_number")
        .prefetch_related("events")
    )
    claims = list(
        Claim.objects.filter(policy__customer_id=customer_id)
        .select_related("policy")
        .order_by("reported_date", "claim_number")
        .prefetch_related("events", "documents")
    )
    # Added for issue 10: the payments to the policyholder, the account in full (a third party's are left out).
    payments: dict[Any, list[ClaimPayment]] = {}
    for payment in ClaimPayment.objects.filter(claim__in=claims, payee_is_policyholder=True).order_by(
        "requested_at", "pk"
    ):
        payments.setdefault(payment.claim_id, []).append(payment)
    ct = ContentType.objects.get_for_model(Customer)
    history = list(
        AuditEntry.objects.filter(content_type=ct, object_pk=str(customer.pk))
        .order_by(F("seq").asc(nulls_last=True), "pk")
        .values("seq", "timestamp", "action", "changes", "actor_email")
    )
    accesses = list(
        PIIAccessLog.objects.filter(customer_id=customer_id)
        .order_by("created_at", "id")
        .values("created_at", "interface", "fields", "actor__email")
    )
    former_values = list(
        FormerPersonalValue.objects.filter(customer_id=customer_id).values_list("field", "value", "created_at")
    )
    consent_history = [
        {
            "at": _iso(row["timestamp"]),
            "changes": {
                name: row["changes"][name]
                for name in ("gdpr_consent", "gdpr_consent_date", "gdpr_consent_withdrawn_at", "data_retention_date")
                if name in row["changes"]
            },
        }
        for row in history
        if isinstance(row["changes"], dict) and "gdpr_consent" in row["changes"]
    ]
    action_names = dict(AuditEntry.Action.choices)
    return {
        "export": {"generated_at": None, "format": "vanguard-subject-access/1", "requested_through": interface},
        "customer": {
            "id": str(customer.pk),
            "email": customer.email,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "phone": customer.phone or None,
            "date_of_birth": _iso(customer.date_of_birth),
            "address": customer.address or None,
            "ssn": customer.ssn or None,
            "pii_encrypted": customer.pii_encrypted,
            "created_at": _iso(customer.created_at),
            "updated_at": _iso(customer.updated_at),
            "erased_at": _iso(customer.erased_at),
        },
        "consent": {
            "gdpr_consent": customer.gdpr_consent,
            "gdpr_consent_date": _iso(customer.gdpr_consent_date),
            "gdpr_consent_withdrawn_at": _iso(customer.gdpr_consent_withdrawn_at),
            "data_retention_date": _iso(customer.data_retention_date),
            "history": consent_history,
        },
        "policies": [
            {
                "id": str(p.pk),
                "policy_number": p.policy_number,
                "policy_type": p.policy_type,
                "status": p.status,
                "premium_amount": _money(p.premium_amount),
                "coverage_amount": _money(p.coverage_amount),
                "start_date": _iso(p.start_date),
                "end_date": _iso(p.end_date),
                "cancellation_reason": p.cancellation_reason or None,
                "cancelled_at": _iso(p.cancelled_at),
                "renewal_of": str(p.renewal_of_id) if p.renewal_of_id else None,
                "created_at": _iso(p.created_at),
                "events": [_event(e) for e in sorted(p.events.all(), key=lambda e: (e.created_at, e.pk))],
            }
            for p in policies
        ],
        "claims": [
            {
                "id": str(c.pk),
                "claim_number": c.claim_number,
                "policy_number": c.policy.policy_number,
                "claim_type": c.claim_type,
                "status": c.status,
                "claim_amount": _money(c.claim_amount),
                "approved_amount": _money(c.approved_amount),
                "description": c.description,
                "decision_reason": c.decision_reason or None,
                "incident_date": _iso(c.incident_date),
                "reported_date": _iso(c.reported_date),
                "processed_date": _iso(c.processed_date),
                "events": [_event(e) for e in sorted(c.events.all(), key=lambda e: (e.created_at, e.pk))],
                "documents": [
                    {
                        "id": str(d.pk),
                        "filename": d.filename,
                        "document_type": d.document_type,
                        "mime_type": d.mime_type,
                        "file_size": d.file_size,
                        "sha256": d.sha256,
                        "uploaded_at": _iso(d.created_at),
                    }
                    for d in sorted(c.documents.all(), key=lambda d: (d.created_at, d.pk))
                ],
                "payments": [  # added for issue 10
                    {
                        "payment_number": pay.payment_number,
                        "cost_type": pay.cost_type,
                        "amount": _money(pay.amount),
                        "payee_name": pay.payee_name,
                        "payee_account": pay.payee_account or None,
                        "method": pay.method,
                        "reference": pay.reference or None,
                        "status": pay.status,
                        "requested_at": _iso(pay.requested_at),
                        "approved_at": _iso(pay.approved_at),
                        "issued_at": _iso(pay.issued_at),
                        "cancelled_at": _iso(pay.cancelled_at),
                        "voided_at": _iso(pay.voided_at),
                    }
                    for pay in payments.get(c.pk, [])
                ],
            }
            for c in claims
        ],
        "record_history": [
            {
                "seq": row["seq"],
                "at": _iso(row["timestamp"]),
                "action": str(action_names.get(row["action"])),
                "changes": row["changes"],
                "by": row["actor_email"],
            }
            for row in history
        ],
        "former_values": [
            {"field": name, "value": value, "replaced_at": _iso(at)} for name, value, at in former_values
        ],
        "pii_accesses": [
            {
                "at": _iso(row["created_at"]),
                "by": row["actor__email"],
                "interface": row["interface"],
                "fields": row["fields"],
            }
            for row in accesses
        ],
    }


def _seeded_customer(actor, viewer) -> Customer:
    """A customer with everything an export lists: edits (former values), a consent withdrawal and renewal,
    a cancelled policy and its renewal, a paid claim and a denied one with events and documents, a document
    of the same instant as another, an empty phone, and views of their data. The paid claim's payments: one to
    the policyholder voided (a returned transfer), one to them issued, one to them without an account and
    cancelled, and one to a third party (an assessor, with their own account) that the export leaves out."""
    now = timezone.now()
    with set_actor(actor, remote_addr="10.0.0.7"):
        customer = customer_services.customer_create(
            actor=actor,
            email="ysolde.brackenbury@example.test",
            first_name="Ysolde",
            last_name="Brackenbury",
            gdpr_consent=True,
            phone="+447700900321",
            date_of_birth=dt.date(1984, 6, 1),
            address="4 Fennel Row, Upper Slaughter",
            ssn="123-45-6789",
        )
        customer_services.customer_update(
            actor=actor, customer_id=customer.pk, address="7 Sorrel Way, Bibury", phone=""
        )
        customer_services.customer_update(actor=actor, customer_id=customer.pk, gdpr_consent=False)
        customer_services.customer_update(actor=actor, customer_id=customer.pk, gdpr_consent=True)
        first = policy_services.policy_create(
            actor=actor,
            customer_id=customer.pk,
            policy_type="home",
            premium_amount=Decimal("612.40"),
            coverage_amount=Decimal("250000.00"),
            start_date=now - dt.timedelta(days=400),
            end_date=now - dt.timedelta(days=35),
        )
        renewal = policy_services.policy_renew(actor=actor, policy_id=first.pk)
        paid = claim_services.claim_create(
            actor=actor,
            policy_id=first.pk,
            claim_type="theft",
            claim_amount=Decimal("1200.00"),
            description="Bicycle taken from the shed",
            incident_date=now - dt.timedelta(days=90),
        )
        claim_services.claim_start_processing(actor=actor, claim_id=paid.pk)
        claim_services.claim_approve(actor=actor, claim_id=paid.pk, amount=Decimal("950.00"), note="less excess")
        returned = financials.payment_request(
            actor=actor,
            claim_id=paid.pk,
            cost_type="indemnity",
            amount=Decimal("950.00"),
            payee_name="Ysolde Brackenbury",
            payee_account=RETURNED_ACCOUNT,
            payee_is_policyholder=True,
            method="bank_transfer",
        )
        financials.payment_issue(actor=actor, payment_id=returned.pk)
        financials.payment_void(actor=actor, payment_id=returned.pk, reason="Returned: account closed")
        # paid through its payment (SPEC §10.2): issuing the approved amount settles the claim
        payment = financials.payment_request(
            actor=actor,
            claim_id=paid.pk,
            cost_type="indemnity",
            amount=Decimal("950.00"),
            payee_name="Ysolde Brackenbury",
            payee_account=POLICYHOLDER_ACCOUNT,
            payee_is_policyholder=True,
            method="bank_transfer",
            reference="Second transfer",
        )
        financials.payment_issue(actor=actor, payment_id=payment.pk)
        financials.claim_reserve_set(
            actor=actor, claim_id=paid.pk, cost_type="expense", amount=Decimal("300.00"), reason="assessor and postage"
        )
        financials.payment_request(
            actor=actor,
            claim_id=paid.pk,
            cost_type="expense",
            amount=Decimal("180.00"),
            payee_name="Hartley Loss Assessors",
            payee_account=THIRD_PARTY_ACCOUNT,
            payee_is_policyholder=False,
            method="bank_transfer",
            reference="Invoice HLA-5531",
        )
        postage = financials.payment_request(
            actor=actor,
            claim_id=paid.pk,
            cost_type="expense",
            amount=Decimal("12.50"),
            payee_name="Ysolde Brackenbury",
            payee_is_policyholder=True,
            method="cheque",
        )
        financials.payment_cancel(actor=actor, payment_id=postage.pk, reason="Paid with the transfer")
        for name in ("receipt.pdf", "shed.png"):
            claim_services.claim_document_add(actor=actor, claim_id=paid.pk, fileobj=io.BytesIO(PNG), filename=name)
        denied = claim_services.claim_create(
            actor=actor,
            policy_id=renewal.pk,
            claim_type="flood",
            claim_amount=Decimal("80.00"),
            description="Damp patch",
            incident_date=now - dt.timedelta(days=3),
        )
        claim_services.claim_deny(actor=actor, claim_id=denied.pk, reason="Wear and tear")
        policy_services.policy_cancel(actor=actor, policy_id=renewal.pk, reason="Moved abroad")
    same_instant = factories.ClaimDocumentFactory(claim=denied, filename="a.png")
    other = factories.ClaimDocumentFactory(claim=denied, filename="b.png")
    ClaimDocument.objects.filter(pk=other.pk).update(created_at=same_instant.created_at)  # ordered by pk then
    services.pii_access_record(actor=viewer, customer_id=customer.pk, fields=["phone", "ssn"], interface="admin")
    chain.seal_pending()  # as after the commit: the history has its sequence numbers
    return Customer.objects.get(pk=customer.pk)


def test_the_export_is_its_schema_rendered_and_equals_the_hand_built_document(
    superuser, compliance_officer, customer_service
):
    # given: a customer with policies, claims, documents, events, consent changes, former values and views
    customer = _seeded_customer(superuser, customer_service)
    expected = _hand_built_export(customer.pk, "api")
    assert expected["customer"]["phone"] is None and expected["former_values"] and expected["consent"]["history"]
    assert {p["renewal_of"] is None for p in expected["policies"]} == {True, False}
    assert [len(c["documents"]) for c in expected["claims"]] == [2, 2]
    before = timezone.now()

    # when
    data = services.customer_export(actor=compliance_officer, customer_id=customer.pk, interface="api")

    # then: the document validates against the schema and is its own rendering
    assert CustomerExport.model_validate(data).model_dump(mode="json", by_alias=True) == data
    # and it is the hand-built document, key for key and in the same order, its moment as Python writes it
    generated_at = data["export"]["generated_at"]
    assert generated_at.endswith("+00:00")
    assert before <= dt.datetime.fromisoformat(generated_at) <= timezone.now()
    expected["export"]["generated_at"] = generated_at
    assert json.dumps(data, indent=1) == json.dumps(expected, indent=1)


def test_the_export_carries_the_payments_to_the_policyholder_in_full_and_none_to_a_third_party(
    superuser, compliance_officer, customer_service
):
    # given: a paid claim with three payments to the policyholder and one to an assessor, and a denied claim
    customer = _seeded_customer(superuser, customer_service)

    # when
    data = services.customer_export(actor=compliance_officer, customer_id=customer.pk, interface="api")

    # then: the policyholder's payments in the order they were requested, each account in full (as the SSN is)
    paid, denied = data["claims"]
    assert [
        (p["status"], p["cost_type"], p["amount"], p["payee_account"], p["method"], p["reference"])
        for p in paid["payments"]
    ] == [
        ("voided", "indemnity", "950.00", RETURNED_ACCOUNT, "bank_transfer", None),
        ("issued", "indemnity", "950.00", POLICYHOLDER_ACCOUNT, "bank_transfer", "Second transfer"),
        ("cancelled", "expense", "12.50", None, "cheque", None),
    ]
    assert {p["payee_name"] for p in paid["payments"]} == {"Ysolde Brackenbury"}
    voided, issued, cancelled = paid["payments"]
    assert voided["issued_at"] and voided["voided_at"] and voided["cancelled_at"] is None
    assert issued["issued_at"] and issued["voided_at"] is None
    assert cancelled["cancelled_at"] and cancelled["issued_at"] is None
    assert data["customer"]["ssn"] == "123-45-6789"  # the same treatment as the person's own national id
    assert denied["payments"] == []
    # and the assessor's payment is not among them, and its payee, account and reference are nowhere (the claim's
    # events name its number and amount, as the claim's history always did, never whom it paid)
    assessor = ClaimPayment.objects.get(payee_is_policyholder=False)
    assert assessor.payment_number not in {p["payment_number"] for p in paid["payments"]}
    text = json.dumps(data)
    for needle in ("Hartley", THIRD_PARTY_ACCOUNT, "HLA-5531"):
        assert needle not in text
    # and the access row of the export names the payee account, which it showed in clear
    access = PIIAccessLog.objects.filter(customer=customer, interface="export").get()
    assert "payee_account" in access.fields and "ssn" in access.fields


def test_an_export_that_shows_no_payee_account_does_not_log_one_as_seen(superuser, compliance_officer):
    # given: a payment to the policyholder without an account (a cheque), and a third party's with one
    claim = factories.ClaimFactory(approved=True)
    customer = claim.policy.customer
    financials.claim_reserve_set(
        actor=superuser, claim_id=claim.pk, cost_type="indemnity", amount=Decimal("20.00"), reason="two cheques"
    )
    for name, account, own in (("Cheque Holder", "", True), ("Garage Ltd", THIRD_PARTY_ACCOUNT, False)):
        financials.payment_request(
            actor=superuser,
            claim_id=claim.pk,
            cost_type="indemnity",
            amount=Decimal("10.00"),
            payee_name=name,
            payee_account=account,
            payee_is_policyholder=own,
            method="cheque",
        )

    # when
    data = services.customer_export(actor=compliance_officer, customer_id=customer.pk, interface="admin")

    # then
    [exported] = data["claims"][0]["payments"]
    assert (exported["payee_name"], exported["payee_account"]) == ("Cheque Holder", None)
    access = PIIAccessLog.objects.filter(customer=customer).get()
    assert "payee_account" not in access.fields


def test_the_export_of_a_customer_with_nothing_but_a_profile_equals_the_hand_built_document(compliance_officer):
    # given
    customer = factories.CustomerFactory(phone="", address="", ssn="", ssn_hash="")
    expected = _hand_built_export(customer.pk, "admin")

    # when
    data = services.customer_export(actor=compliance_officer, customer_id=customer.pk, interface="admin")

    # then
    expected["export"]["generated_at"] = data["export"]["generated_at"]
    assert json.dumps(data) == json.dumps(expected)
    assert data["policies"] == data["claims"] == data["former_values"] == data["pii_accesses"] == []
    assert [entry["seq"] for entry in data["record_history"]] == [None]  # its creation, not sealed yet


def test_a_selector_row_with_a_key_the_schema_does_not_name_is_refused(compliance_officer, monkeypatch):
    # given: a selector that leaks a column into the export
    customer = factories.PolicyFactory().customer
    real = selectors.customer_export_policies

    def leaky(*, customer_id):
        return [{**row, "customer_id": customer_id} for row in real(customer_id=customer_id)]

    monkeypatch.setattr(selectors, "customer_export_policies", leaky)

    # when / then: the export fails instead of carrying it, and records no access
    with pytest.raises(ValidationError, match="customer_id"):
        services.customer_export(actor=compliance_officer, customer_id=customer.pk, interface="api")
    assert not PIIAccessLog.objects.exists()


def _payment(claim: Claim, *, payee_is_policyholder: bool = True) -> ClaimPayment:
    """A requested payment on `claim`, written directly (the export reads rows; the rules are tested elsewhere)."""
    return ClaimPayment.objects.create(
        payment_number=factories._number("PAY"),
        claim=claim,
        cost_type="indemnity",
        amount=Decimal("25.00"),
        payee_name="Pat Payee" if payee_is_policyholder else "Third Party Ltd",
        payee_account=POLICYHOLDER_ACCOUNT if payee_is_policyholder else THIRD_PARTY_ACCOUNT,
        payee_is_policyholder=payee_is_policyholder,
        method="bank_transfer",
    )


def test_the_exports_queries_do_not_grow_with_the_customers_records(compliance_officer):
    # given: a customer with one policy, one claim, one event each, one document and one payment to them
    customer = factories.CustomerFactory()
    claim = factories.ClaimFactory(policy=factories.PolicyFactory(customer=customer))
    factories.ClaimDocumentFactory(claim=claim)
    _payment(claim)
    services.customer_export(actor=compliance_officer, customer_id=customer.pk, interface="api")  # warm caches
    with CaptureQueriesContext(connection) as few:
        services.customer_export(actor=compliance_officer, customer_id=customer.pk, interface="api")

    # when: many more of each
    for _ in range(5):
        more = factories.ClaimFactory(policy=factories.PolicyFactory(customer=customer))
        factories.ClaimDocumentFactory.create_batch(2, claim=more)
        for _ in range(3):
            _payment(more)
        _payment(more, payee_is_policyholder=False)
    with CaptureQueriesContext(connection) as many:
        data = services.customer_export(actor=compliance_officer, customer_id=customer.pk, interface="api")

    # then
    assert len(data["policies"]) == 6 and sum(len(c["documents"]) for c in data["claims"]) == 11
    assert sum(len(c["payments"]) for c in data["claims"]) == 16
    assert {p["payee_account"] for c in data["claims"] for p in c["payments"]} == {POLICYHOLDER_ACCOUNT}
    assert len(many.captured_queries) == len(few.captured_queries)
