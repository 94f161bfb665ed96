"""Factories build valid objects in their default state; states come from traits.

Domain rows are built through the ORM here (factories are the one place outside services allowed to),
with the invariants the services would set (consent dates, numbers, decisions).
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

import factory
from django.conf import settings
from django.contrib.auth.models import Group
from django.utils import timezone

from claims.models import (
    Claim,
    ClaimDocument,
    ClaimPayment,
    CostType,
    PaymentMethod,
    PaymentStatus,
    ReserveChange,
)
from customers import pii
from customers.models import Customer
from policies.models import Policy
from vanguard.accounts import roles
from vanguard.accounts.models import User

PASSWORD = "Correct-Horse-42!"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"staff{n}@vanguard.test")
    full_name = factory.Faker("name")
    is_staff = True
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            roles.bootstrap_roles()
            self.groups.add(Group.objects.get(name=extracted))

    class Params:
        superuser = factory.Trait(is_superuser=True)


def staff(role: str, **kwargs) -> User:
    return UserFactory(role=role, **kwargs)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    email = factory.Sequence(lambda n: f"customer{n}@example.test")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    phone = factory.Sequence(lambda n: f"+4420{7000000 + n}")
    date_of_birth = dt.date(1980, 5, 17)
    address = factory.Faker("address")
    ssn = factory.Sequence(lambda n: f"123-45-{n % 10000:04d}")
    ssn_hash = factory.LazyAttribute(lambda o: pii.ssn_hash(o.ssn))
    gdpr_consent = True
    gdpr_consent_date = factory.LazyFunction(timezone.now)
    data_retention_date = factory.LazyAttribute(
        lambda o: o.gdpr_consent_date + dt.timedelta(days=settings.DATA_RETENTION_DAYS)
    )
    encryption_key_id = "k1"


def _number(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4).upper()}"


class PolicyFactory(factory.django.DjangoModelFactory):
    """An active auto policy whose one-year term began 30 days ago."""

    class Meta:
        model = Policy

    policy_number = factory.LazyFunction(lambda: _number("POL"))
    customer = factory.SubFactory(CustomerFactory)
    policy_type = Policy.PolicyType.AUTO
    premium_amount = Decimal("500.00")
    coverage_amount = Decimal("50000.00")
    start_date = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=30))
    end_date = factory.LazyAttribute(lambda o: o.start_date + dt.timedelta(days=365))
    status = Policy.Status.ACTIVE

    class Params:
        pending = factory.Trait(
            status=Policy.Status.PENDING,
            start_date=factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=10)),
        )
        inactive = factory.Trait(status=Policy.Status.INACTIVE)
        cancelled = factory.Trait(
            status=Policy.Status.CANCELLED,
            cancellation_reason="Customer request",
            cancelled_at=factory.LazyFunction(timezone.now),
        )
        expired = factory.Trait(
            status=Policy.Status.EXPIRED,
            start_date=factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=400)),
        )
        lapsed = factory.Trait(  # still active, but its end date has passed: due for the expiry job
            start_date=factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=400)),
        )


class ClaimFactory(factory.django.DjangoModelFactory):
    """A pending accident claim of 1,000.00 on an active policy, incident yesterday.

    Its money (SPEC §10) is empty, as on a claim filed before the financials existed, except with `settled`."""

    class Meta:
        model = Claim
        skip_postgeneration_save = True

    claim_number = factory.LazyFunction(lambda: _number("CLM"))
    policy = factory.SubFactory(PolicyFactory)
    claim_type = Claim.ClaimType.ACCIDENT
    claim_amount = Decimal("1000.00")
    description = "Rear-ended at a junction."
    incident_date = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))
    reported_date = factory.LazyFunction(timezone.now)
    status = Claim.Status.PENDING

    class Params:
        processing = factory.Trait(status=Claim.Status.PROCESSING)
        approved = factory.Trait(
            status=Claim.Status.APPROVED,
            approved_amount=factory.SelfAttribute("claim_amount"),
            processed_date=factory.LazyFunction(timezone.now),
        )
        denied = factory.Trait(
            status=Claim.Status.DENIED, decision_reason="Not covered", processed_date=factory.LazyFunction(timezone.now)
        )
        paid = factory.Trait(
            status=Claim.Status.PAID,
            approved_amount=factory.SelfAttribute("claim_amount"),
            processed_date=factory.LazyFunction(timezone.now),
        )
        closed = factory.Trait(
            status=Claim.Status.CLOSED,
            approved_amount=factory.SelfAttribute("claim_amount"),
            processed_date=factory.LazyFunction(timezone.now),
        )
        # Approved, and its whole approved amount already issued, yet not paid: as after a reopening and a new
        # approval. The one state in which a claim may be marked paid by hand (SPEC §10.2); its rows say so.
        settled = factory.Trait(
            approved=True,
            paid_indemnity=factory.SelfAttribute("claim_amount"),
            gross_incurred=factory.SelfAttribute("claim_amount"),
            net_incurred=factory.SelfAttribute("claim_amount"),
        )

    @factory.post_generation
    def issued_payments(self, create, extracted, **kwargs):
        """The rows behind a settled claim's totals: its initial reserve, the payment issued, the reserve it used."""
        if not create or not self.paid_indemnity:
            return
        amount, zero = self.paid_indemnity, Decimal("0.00")
        payment = ClaimPayment.objects.create(
            payment_number=_number("PAY"),
            claim=self,
            cost_type=CostType.INDEMNITY,
            amount=amount,
            payee_name="Settled Payee",
            method=PaymentMethod.BANK_TRANSFER,
            status=PaymentStatus.ISSUED,
            approved_at=timezone.now(),
            issued_at=timezone.now(),
        )
        ReserveChange.objects.create(
            claim=self, cost_type=CostType.INDEMNITY, previous_amount=zero, new_amount=amount, reason="initial reserve"
        )
        ReserveChange.objects.create(
            claim=self,
            cost_type=CostType.INDEMNITY,
            previous_amount=amount,
            new_amount=zero,
            reason=f"payment {payment.payment_number}",
        )


class ClaimDocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClaimDocument

    claim = factory.SubFactory(ClaimFactory)
    filename = "photo.png"
    file = factory.django.FileField(filename="photo.png", data=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    mime_type = "image/png"
    file_size = 72
    sha256 = "0" * 64
    document_type = ClaimDocument.DocumentType.PHOTO
