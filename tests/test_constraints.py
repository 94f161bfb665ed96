"""The database is the backstop: direct writes that bypass the services violate a named constraint."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from claims.models import Claim, ClaimDocument, ClaimEvent
from customers.models import Customer
from policies.models import Policy, PolicyEvent
from tests import factories

pytestmark = pytest.mark.django_db


def _violates(constraint: str, write) -> None:
    with pytest.raises(IntegrityError) as exc, transaction.atomic():
        write()
    assert constraint in str(exc.value)


# --- customers --------------------------------------------------------------------------------------


def test_email_unique_regardless_of_case():
    # given
    factories.CustomerFactory(email="dup@example.test")
    # when / then
    _violates("customers_customer_email_ci_unique", lambda: factories.CustomerFactory(email="dup@example.test"))


def test_email_differing_in_case_is_refused():
    # given
    customer = factories.CustomerFactory(email="case@example.test")
    # when / then: either constraint refuses it; neither lets a second "CASE@..." in
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.CustomerFactory(email="CASE@example.test")
    assert Customer.objects.filter(email__iexact="case@example.test").get() == customer


def test_email_stored_lowercase():
    _violates("customers_customer_email_lowercase", lambda: factories.CustomerFactory(email="Upper@example.test"))


@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_names_present(field):
    _violates("customers_customer_names_present", lambda: factories.CustomerFactory(**{field: ""}))


def test_consent_must_be_dated():
    _violates(
        "customers_customer_consent_dated",
        lambda: factories.CustomerFactory(gdpr_consent_date=None, data_retention_date=None),
    )


# --- policies ---------------------------------------------------------------------------------------


@pytest.fixture
def policy():
    return factories.PolicyFactory()


def _update(model, pk, **values):
    return lambda: model.objects.filter(pk=pk).update(**values)


@pytest.mark.parametrize("value", [Decimal("0"), Decimal("-1")])
def test_premium_positive(policy, value):
    _violates("policies_policy_premium_positive", _update(Policy, policy.pk, premium_amount=value))


@pytest.mark.parametrize("value", [Decimal("0"), Decimal("-1")])
def test_coverage_positive(policy, value):
    _violates("policies_policy_coverage_positive", _update(Policy, policy.pk, coverage_amount=value))


@pytest.mark.parametrize("delta", [dt.timedelta(0), dt.timedelta(days=-1)])
def test_valid_date_range(policy, delta):
    _violates("valid_date_range", _update(Policy, policy.pk, end_date=policy.start_date + delta))


@pytest.mark.parametrize(
    "field,constraint",
    [
        ("policy_type", "policies_policy_type_valid"),
        ("status", "policies_policy_status_valid"),
        ("compliance_status", "policies_policy_compliance_status_valid"),
    ],
)
def test_policy_enums(policy, field, constraint):
    _violates(constraint, _update(Policy, policy.pk, **{field: "bogus"}))


def test_cancelled_policy_is_dated(policy):
    _violates("policies_policy_cancelled_dated", _update(Policy, policy.pk, status="cancelled"))


@pytest.mark.parametrize("number", ["POL-1234567", "POL-1234567g", "CLM-12345678", "pol-ABCDEF12"])
def test_policy_number_format(policy, number):
    _violates("policies_policy_number_format", _update(Policy, policy.pk, policy_number=number))


def test_policy_number_unique(policy):
    _violates("policy_number", lambda: factories.PolicyFactory(policy_number=policy.policy_number))


def test_policy_event_kind(policy):
    _violates("policies_policyevent_kind_valid", lambda: PolicyEvent.objects.create(policy=policy, kind="bogus"))


# --- claims -----------------------------------------------------------------------------------------


@pytest.fixture
def claim():
    return factories.ClaimFactory()


@pytest.mark.parametrize("value", [Decimal("0"), Decimal("-1")])
def test_claim_amount_positive(claim, value):
    _violates("claims_claim_amount_positive", _update(Claim, claim.pk, claim_amount=value))


@pytest.mark.parametrize("value", [Decimal("1000.01"), Decimal("0"), Decimal("-5")])
def test_approved_within_the_claim_amount(claim, value):
    _violates("claims_claim_approved_within_amount", _update(Claim, claim.pk, approved_amount=value))


@pytest.mark.parametrize("status", ["approved", "paid"])
def test_approved_or_paid_has_an_amount(claim, status):
    _violates("claims_claim_approved_has_amount", _update(Claim, claim.pk, status=status))


def test_denied_has_a_reason(claim):
    _violates("claims_claim_denied_has_reason", _update(Claim, claim.pk, status="denied", decision_reason=""))


@pytest.mark.parametrize(
    "field,constraint", [("claim_type", "claims_claim_type_valid"), ("status", "claims_claim_status_valid")]
)
def test_claim_enums(claim, field, constraint):
    _violates(constraint, _update(Claim, claim.pk, **{field: "bogus"}))


@pytest.mark.parametrize("number", ["CLM-1234", "POL-12345678", "CLM-abcdef12"])
def test_claim_number_format(claim, number):
    _violates("claims_claim_number_format", _update(Claim, claim.pk, claim_number=number))


def test_a_claim_carries_its_policys_customer(claim):
    # given / when: the factory's save, as every service's
    claim.refresh_from_db()
    # then
    assert claim.customer_id == claim.policy.customer_id


def test_a_claim_cannot_name_a_customer_other_than_its_policys(claim):
    other = factories.CustomerFactory()
    _violates("claims_claim_policy_customer_fk", _update(Claim, claim.pk, customer_id=other.pk))


def test_claim_number_unique(claim):
    _violates("claim_number", lambda: factories.ClaimFactory(claim_number=claim.claim_number))


@pytest.mark.parametrize("size", [0, 10 * 1024 * 1024 + 1])
def test_document_size_range(size):
    _violates("claims_document_size_range", lambda: factories.ClaimDocumentFactory(file_size=size))


def test_document_type(claim):
    document = factories.ClaimDocumentFactory(claim=claim)
    _violates("claims_document_type_valid", _update(ClaimDocument, document.pk, document_type="bogus"))


def test_claim_event_kind(claim):
    _violates("claims_claimevent_kind_valid", lambda: ClaimEvent.objects.create(claim=claim, kind="bogus"))


# --- history is protected ---------------------------------------------------------------------------


def test_a_policy_with_claims_cannot_be_deleted(claim):
    # when / then
    with pytest.raises(ProtectedError):
        claim.policy.delete()
