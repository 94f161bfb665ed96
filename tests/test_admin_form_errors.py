"""Service-backed admin forms show every invalid field at once (issue 9), for policies and claims as for customers
(tests/customers/test_admin_forms.py), and the services refuse all invalid fields in one ValidationError."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from claims import services as claim_services
from claims.models import Claim
from policies import services as policy_services
from policies.models import Policy
from tests import factories

pytestmark = pytest.mark.django_db


def split(moment: dt.datetime, prefix: str) -> dict[str, str]:
    return {f"{prefix}_0": f"{moment:%Y-%m-%d}", f"{prefix}_1": f"{moment:%H:%M:%S}"}


def test_a_policy_with_no_premium_and_an_end_before_its_start_shows_both(client, underwriter):
    # given
    customer = factories.CustomerFactory()
    start = timezone.now().replace(microsecond=0)
    client.force_login(underwriter)
    # when
    response = client.post(
        reverse("admin:policies_policy_add"),
        {
            "customer": str(customer.pk),
            "policy_type": "home",
            "premium_amount": "0",
            "coverage_amount": "0",
            **split(start, "start_date"),
            **split(start - dt.timedelta(days=1), "end_date"),
        },
    )
    # then
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"premium_amount", "coverage_amount", "end_date"} <= set(errors), errors
    assert not Policy.objects.exists()


def test_policy_create_refuses_every_invalid_field_at_once(underwriter):
    start = timezone.now()
    with pytest.raises(ValidationError) as refused:
        policy_services.policy_create(
            actor=underwriter,
            customer_id=factories.CustomerFactory().pk,
            policy_type="home",
            premium_amount=Decimal("0"),
            coverage_amount=Decimal("1000"),
            start_date=start,
            end_date=start - dt.timedelta(days=1),
        )
    assert {"premium_amount", "end_date"} <= set(refused.value.message_dict)


def test_a_claim_with_no_amount_and_a_future_incident_shows_both(client, adjuster):
    # given
    policy = factories.PolicyFactory()
    future = timezone.now() + dt.timedelta(days=3)
    client.force_login(adjuster)
    # when
    response = client.post(
        reverse("admin:claims_claim_add"),
        {
            "policy": str(policy.pk),
            "claim_type": "theft",
            "claim_amount": "0",
            "description": "Stolen",
            **split(future, "incident_date"),
            "documents-TOTAL_FORMS": "0",
            "documents-INITIAL_FORMS": "0",
        },
    )
    # then
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"claim_amount", "incident_date"} <= set(errors), errors
    assert not Claim.objects.exists()


def test_claim_create_refuses_every_invalid_field_at_once(adjuster):
    with pytest.raises(ValidationError) as refused:
        claim_services.claim_create(
            actor=adjuster,
            policy_id=factories.PolicyFactory().pk,
            claim_type="theft",
            claim_amount=Decimal("0"),
            incident_date=timezone.now() + dt.timedelta(days=3),
        )
    assert set(refused.value.message_dict) == {"claim_amount", "incident_date"}
