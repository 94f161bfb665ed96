"""The GDPR erasure writes the other apps' rows only through those apps' services (issue 11): the customer through
`customers.services.customer_anonymise`, claims and policies through `claims.erasure` and `policies.erasure`."""

from __future__ import annotations

import re
import sys
from decimal import Decimal

import pytest
from auditlog.context import set_actor
from django.db import connection

from claims import erasure as claim_erasure
from claims import services as claim_services
from claims.models import Claim, ClaimDocument, ClaimEvent
from compliance import services
from customers import services as customer_services
from customers.models import Customer
from policies import erasure as policy_erasure
from policies import services as policy_services
from policies.models import Policy, PolicyEvent
from tests import factories

pytestmark = pytest.mark.django_db

# The table an UPDATE writes → the module that owns writes to it during an erasure.
OWNERS = {
    "customers_customer": "customers.services",
    "policies_policy": "policies.erasure",
    "policies_policyevent": "policies.erasure",
    "claims_claim": "claims.erasure",
    "claims_claimevent": "claims.erasure",
    "claims_claimdocument": "claims.erasure",
}
UPDATED_TABLE = re.compile(r'^\s*UPDATE\s+"(\w+)"', re.IGNORECASE)


def _calling_modules() -> set[str]:
    frame, names = sys._getframe(1), set()
    while frame is not None:
        names.add(frame.f_globals.get("__name__", ""))
        frame = frame.f_back
    return names


def _customer_with_history(actor, *, name: str = "Quenby") -> Customer:
    with set_actor(actor):
        customer = factories.CustomerFactory(first_name=name, last_name="Harrowgate")
        policy = factories.PolicyFactory(customer=customer)
        claim = claim_services.claim_create(
            actor=actor,
            policy_id=policy.pk,
            claim_type="theft",
            claim_amount=Decimal("300.00"),
            description=f"{name} Harrowgate lost a bag",
            incident_date=policy.start_date,
        )
        claim_services.claim_deny(actor=actor, claim_id=claim.pk, reason=f"{name} was not covered")
        factories.ClaimDocumentFactory(claim=claim, filename=f"{name.lower()}-receipt.png")
        policy_services.policy_cancel(actor=actor, policy_id=policy.pk, reason=f"{name} moved away")
    return customer


def test_the_erasure_writes_customers_policies_and_claims_only_through_their_apps_services(
    superuser, compliance_officer
):
    # given: a customer whose claim, events, document and cancelled policy carry their name
    customer = _customer_with_history(superuser)
    writes: list[tuple[str, set[str]]] = []

    def record(execute, sql, params, many, context):
        match = UPDATED_TABLE.match(sql)
        if match and match.group(1) in OWNERS:
            writes.append((match.group(1), _calling_modules()))
        return execute(sql, params, many, context)

    # when
    with connection.execute_wrapper(record):
        services.customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="api")

    # then: every table was written (the test can fail), each time from inside its own app's service
    assert {table for table, _ in writes} == set(OWNERS)
    strays = [(table, OWNERS[table]) for table, modules in writes if OWNERS[table] not in modules]
    assert strays == []


def test_claims_scrub_rewrites_only_the_changed_columns_of_the_customers_claims(superuser):
    # given: two customers with the same kind of history
    customer = _customer_with_history(superuser)
    other = _customer_with_history(superuser, name="Rowena")
    claim = Claim.objects.get(policy__customer=customer)

    # when: a scrub that replaces the name with a text longer than the document name's column
    changed = claim_erasure.claims_scrub_personal_text(
        customer_id=customer.pk,
        scrub=lambda value: value.replace("quenby", "x" * 300) if isinstance(value, str) else value,
    )

    # then: the rows changed are named by model; the long text is cut to its column; the other customer's stay
    document = ClaimDocument.objects.get(claim=claim)
    assert changed == {"claims.claimdocument": [str(document.pk)]}
    assert document.filename == ("x" * 300)[:255]
    assert ClaimDocument.objects.get(claim__policy__customer=other).filename == "rowena-receipt.png"

    # when: a scrub of the name as written in the free text
    changed = claim_erasure.claims_scrub_personal_text(
        customer_id=customer.pk,
        scrub=lambda value: value.replace("Quenby", "[erased]") if isinstance(value, str) else value,
    )

    # then
    claim.refresh_from_db()
    assert changed == {
        "claims.claim": [str(claim.pk)],
        "claims.claimevent": [
            str(pk)
            for pk in ClaimEvent.objects.filter(claim=claim, reason__contains="[erased]")
            .order_by("pk")
            .values_list("pk", flat=True)
        ],
    }
    assert (claim.description, claim.decision_reason) == ("[erased] Harrowgate lost a bag", "[erased] was not covered")
    assert Claim.objects.get(policy__customer=other).description == "Rowena Harrowgate lost a bag"


def test_policies_scrub_rewrites_the_cancellation_reason_and_the_events(superuser):
    # given
    customer = _customer_with_history(superuser)
    policy = Policy.objects.get(customer=customer)

    # when
    changed = policy_erasure.policies_scrub_personal_text(
        customer_id=customer.pk,
        scrub=lambda value: value.replace("Quenby", "[erased]") if isinstance(value, str) else value,
    )

    # then: the cancellation event's reason is scrubbed (its data, JSON, passed through the scrub as a dict)
    policy.refresh_from_db()
    event = PolicyEvent.objects.get(policy=policy, kind="cancelled")
    assert changed == {"policies.policyevent": [str(event.pk)], "policies.policy": [str(policy.pk)]}
    assert policy.cancellation_reason == event.reason == "[erased] moved away"


def test_customer_anonymise_replaces_the_identity_and_names_what_changed(settings):
    # given: a customer without an address
    customer = factories.CustomerFactory(address="", encryption_key_id="k0")
    settings.ENCRYPTION_KEY_ID = "k9"
    erased_at = customer.created_at

    # when
    changed = customer_services.customer_anonymise(customer=customer, erased_at=erased_at)

    # then
    stored = Customer.objects.get(pk=customer.pk)
    assert (stored.first_name, stored.last_name) == ("Erased", "Erased")
    assert stored.email == f"erased-{customer.pk}@erased.invalid"
    assert (stored.phone, stored.address, stored.ssn, stored.ssn_hash, stored.date_of_birth) == ("", "", "", "", None)
    assert (stored.erased_at, stored.encryption_key_id) == (erased_at, "k9")
    assert set(changed) == set(customer_services.ANONYMISED_FIELDS) - {"address"}
