"""Customer services (SPEC §2.2): consent, unique email in any case, formats, audit with its actor."""

from __future__ import annotations

import datetime as dt

import pytest
from auditlog.context import set_actor
from django.core.exceptions import ValidationError
from django.utils import timezone

from compliance.models import AuditEntry
from customers import pii, services
from customers.models import Customer
from tests import factories
from vanguard.core.errors import BusinessRuleViolation, Conflict, NotPermitted

pytestmark = pytest.mark.django_db


def _create(actor, **overrides) -> Customer:
    kwargs = {
        "email": "Ada.Lovelace@Example.test",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "gdpr_consent": True,
        "phone": "+442071234567",
        "date_of_birth": dt.date(1985, 12, 10),
        "address": "12 St James's Square, London",
        "ssn": "123-45-6789",
    }
    kwargs.update(overrides)
    return services.customer_create(actor=actor, **kwargs)


def test_create_stores_email_lowercased_with_consent_and_retention_dates(customer_service, settings):
    # given
    settings.DATA_RETENTION_DAYS = 2555
    # when
    with set_actor(customer_service):
        customer = _create(customer_service)
    # then
    customer.refresh_from_db()
    assert customer.email == "ada.lovelace@example.test"
    assert customer.gdpr_consent and customer.gdpr_consent_date is not None
    assert customer.data_retention_date == customer.gdpr_consent_date + dt.timedelta(days=2555)
    assert customer.ssn_hash == pii.ssn_hash("123456789")
    assert customer.pii_encrypted and customer.encryption_key_id == settings.ENCRYPTION_KEY_ID
    entry = AuditEntry.objects.get_for_object(customer).get(action=AuditEntry.Action.CREATE)
    assert entry.actor == customer_service


def test_consent_is_required(customer_service):
    # when / then
    with pytest.raises(BusinessRuleViolation, match="consent") as exc:
        _create(customer_service, gdpr_consent=False)
    assert exc.value.field == "gdpr_consent" and exc.value.status_code == 400
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    "email",
    [
        "ada.lovelace@example.test",
        "ADA.LOVELACE@EXAMPLE.TEST",
        " Ada.Lovelace@example.TEST ",
        # look-alikes (issue 12): zero-width and format characters, full-width letters
        "ada.lovelace@example.test\u200b",
        "\ufeffada.lovelace@example.test",
        "ada.love\u00adlace@example.test",
        "\uff41da.lovelace@example.test",
    ],
)
def test_duplicate_email_in_any_case_is_a_conflict(customer_service, email):
    # given
    _create(customer_service)
    # when / then
    with pytest.raises(Conflict) as exc:
        _create(customer_service, email=email, ssn="")
    assert exc.value.status_code == 409 and exc.value.field == "email"
    assert Customer.objects.count() == 1


@pytest.mark.parametrize("phone", ["+442071234567", "442071234567", "+12", "+123456789012345"])
def test_e164_phones_are_accepted(customer_service, phone):
    # when
    customer = _create(customer_service, phone=phone)
    # then
    assert Customer.objects.get(pk=customer.pk).phone == phone


@pytest.mark.parametrize("phone", ["+44 20 7123 4567", "020-7123-4567", "+0441234", "+1234567890123456", "+1", "abc"])
def test_non_e164_phones_are_refused(customer_service, phone):
    # when / then
    with pytest.raises(ValidationError) as exc:
        _create(customer_service, phone=phone)
    assert "phone" in exc.value.message_dict


def test_birth_date_today_is_accepted(customer_service):
    # when
    customer = _create(customer_service, date_of_birth=timezone.localdate())
    # then
    assert customer.date_of_birth == timezone.localdate()


def test_birth_date_in_the_future_is_refused(customer_service):
    # when / then
    with pytest.raises(ValidationError) as exc:
        _create(customer_service, date_of_birth=timezone.localdate() + dt.timedelta(days=1))
    assert "date_of_birth" in exc.value.message_dict


@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize("value", ["", "   ", "x" * 101])
def test_names_must_be_1_to_100_characters(customer_service, field, value):
    # when / then
    with pytest.raises(ValidationError) as exc:
        _create(customer_service, **{field: value})
    assert field in exc.value.message_dict


@pytest.mark.parametrize("value", ["A", "x" * 100])
def test_names_at_the_bounds_are_accepted(customer_service, value):
    # when
    customer = _create(customer_service, first_name=value, last_name=value)
    # then
    assert customer.first_name == value


def test_invalid_email_is_refused(customer_service):
    # when / then
    with pytest.raises(ValidationError) as exc:
        _create(customer_service, email="not-an-email")
    assert "email" in exc.value.message_dict


def test_update_changes_fields_rehashes_ssn_and_is_audited(customer_service):
    # given
    customer = factories.CustomerFactory(ssn="111-11-1111")
    # when
    with set_actor(customer_service):
        services.customer_update(
            actor=customer_service, customer_id=customer.pk, last_name="Byron", ssn="222 22 2222", phone="+33612345678"
        )
    # then
    customer.refresh_from_db()
    assert (customer.last_name, customer.ssn, customer.phone) == ("Byron", "222 22 2222", "+33612345678")
    assert customer.ssn_hash == pii.ssn_hash("222-22-2222")
    entry = AuditEntry.objects.get_for_object(customer).get(action=AuditEntry.Action.UPDATE)
    assert entry.actor == customer_service and {"last_name", "ssn", "phone"} <= set(entry.changes)


def test_update_with_the_same_values_writes_nothing(customer_service):
    # given
    customer = factories.CustomerFactory()
    # when
    services.customer_update(actor=customer_service, customer_id=customer.pk, first_name=customer.first_name)
    # then
    assert not AuditEntry.objects.get_for_object(customer).filter(action=AuditEntry.Action.UPDATE).exists()


def test_update_validates_like_create(customer_service):
    # given
    customer = factories.CustomerFactory()
    # when / then
    with pytest.raises(ValidationError) as exc:
        services.customer_update(actor=customer_service, customer_id=customer.pk, phone="0207 123")
    assert "phone" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.customer_update(
            actor=customer_service, customer_id=customer.pk, date_of_birth=timezone.localdate() + dt.timedelta(days=3)
        )
    assert "date_of_birth" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.customer_update(actor=customer_service, customer_id=customer.pk, first_name=" ")
    assert "first_name" in exc.value.message_dict
    fresh = Customer.objects.get(pk=customer.pk)
    assert (fresh.phone, fresh.date_of_birth, fresh.first_name) == (
        customer.phone,
        customer.date_of_birth,
        customer.first_name,
    )


def test_email_cannot_be_changed_through_update(customer_service):
    # given
    customer = factories.CustomerFactory()
    # when / then
    with pytest.raises(ValidationError) as exc:
        services.customer_update(actor=customer_service, customer_id=customer.pk, email="other@example.test")
    assert "email" in exc.value.message_dict


def test_withdrawing_and_giving_consent_again(customer_service):
    # given
    customer = factories.CustomerFactory(gdpr_consent_date=timezone.now() - dt.timedelta(days=100))
    first_consent = customer.gdpr_consent_date
    # when
    services.customer_update(actor=customer_service, customer_id=customer.pk, gdpr_consent=False)
    customer.refresh_from_db()
    # then: the withdrawal is dated, the original consent date stays as the record
    assert not customer.gdpr_consent and customer.gdpr_consent_withdrawn_at is not None
    assert customer.gdpr_consent_date == first_consent
    # when
    services.customer_update(actor=customer_service, customer_id=customer.pk, gdpr_consent=True)
    customer.refresh_from_db()
    # then: the retention clock restarts
    assert customer.gdpr_consent_withdrawn_at is None and customer.gdpr_consent_date > first_consent


def test_erased_customer_is_read_only(customer_service):
    # given
    customer = factories.CustomerFactory(erased_at=timezone.now())
    # when / then
    with pytest.raises(Conflict, match="erased"):
        services.customer_update(actor=customer_service, customer_id=customer.pk, first_name="New")


ROLES = ["customer_service", "underwriter", "adjuster", "manager", "compliance_officer", "superuser"]
WRITERS = {"customer_service", "superuser"}


@pytest.mark.parametrize("role", ROLES)
def test_create_permission_per_role(request, role):
    # given
    actor = request.getfixturevalue(role)
    # when / then
    if role in WRITERS:
        assert _create(actor).pk
    else:
        with pytest.raises(NotPermitted):
            _create(actor)
        assert not Customer.objects.exists()


@pytest.mark.parametrize("role", ROLES)
def test_update_permission_per_role(request, role):
    # given
    actor = request.getfixturevalue(role)
    customer = factories.CustomerFactory(first_name="Old")
    # when / then
    if role in WRITERS:
        services.customer_update(actor=actor, customer_id=customer.pk, first_name="New")
        customer.refresh_from_db()
        assert customer.first_name == "New"
    else:
        with pytest.raises(NotPermitted):
            services.customer_update(actor=actor, customer_id=customer.pk, first_name="New")
