"""The customer form (issue 9): every error at once, formats explained up front, national ids validated (in the
model, so the service and the API refuse them too), a duplicate national id warned about, readable labels."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from customers import pii, services
from customers.models import Customer
from tests import factories
from tests.admin_support import messages_of

pytestmark = pytest.mark.django_db

ADD = reverse("admin:customers_customer_add")


def change_url(customer: Customer) -> str:
    return reverse("admin:customers_customer_change", args=[customer.pk])


def add_data(**overrides) -> dict:
    data = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@example.test",
        "phone": "+12025550143",
        "date_of_birth": "1906-12-09",
        "address": "Arlington",
        "ssn": "111-22-3333",
        "gdpr_consent": "on",
        "policies-TOTAL_FORMS": "0",
        "policies-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_every_error_of_the_add_form_is_shown_at_once(client, customer_service):
    # given: a bad phone, a bad national id, a birth date in the future and no consent
    client.force_login(customer_service)
    # when
    response = client.post(ADD, add_data(phone="020 7123", ssn="12", date_of_birth="2999-01-01", gdpr_consent=None))
    # then: all four in one round, and nothing saved
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"phone", "ssn", "date_of_birth", "gdpr_consent"} <= set(errors), errors
    assert not Customer.objects.exists()


def test_format_errors_come_with_a_missing_required_field(client, customer_service):
    # given: no last name (a form-field error) and a malformed phone (a model validator)
    client.force_login(customer_service)
    # when
    response = client.post(ADD, add_data(last_name="", phone="12ab"))
    # then
    errors = response.context["adminform"].form.errors
    assert {"last_name", "phone"} <= set(errors), errors
    assert not Customer.objects.exists()


def test_the_phone_and_national_id_formats_are_explained_before_any_refusal(client, customer_service):
    # given
    client.force_login(customer_service)
    # when
    html = client.get(ADD).content.decode()
    # then
    assert "+442071234567" in html and "country code" in html
    assert "123-45-6789" in html and "AB 12 34 56 C" in html


def test_labels_are_written_for_people(client, compliance_officer):
    # given
    customer = factories.CustomerFactory()
    client.force_login(compliance_officer)
    # when
    html = client.get(change_url(customer)).content.decode()
    # then
    assert "GDPR consent" in html and "Gdpr" not in html and "Consent given at" in html


@pytest.mark.parametrize(
    "value", ["123-45-6789", "123 45 6789", "123456789", "AB 12 34 56 C", "ab123456c", "QQ123456D"]
)
def test_accepted_national_ids(value):
    pii.validate_national_id(value)  # no error


@pytest.mark.parametrize(
    "value",
    [
        "12",
        "123-456-789",
        "12345678",
        "1234567890",
        "123-45 6789",
        "AB123456E",
        "A1234567C",
        "Ada Lovelace",
        "+442071234567",
    ],
)
def test_refused_national_ids_without_repeating_the_value(value):
    with pytest.raises(ValidationError) as refused:
        pii.validate_national_id(value)
    # one fixed message, whatever was typed: it cannot carry the value
    assert refused.value.messages == [
        "Enter a valid national id: a US social security number (123-45-6789) or a "
        "UK National Insurance number (AB 12 34 56 C)."
    ]


def test_the_service_refuses_a_malformed_national_id(customer_service):
    # when / then
    with pytest.raises(ValidationError) as refused:
        services.customer_create(
            actor=customer_service, email="x@example.test", first_name="X", last_name="Y", gdpr_consent=True, ssn="12"
        )
    assert "ssn" in refused.value.message_dict
    assert not Customer.objects.exists()


def test_an_old_malformed_national_id_does_not_block_an_unrelated_change(customer_service):
    # given: a value stored before the format rule
    customer = factories.CustomerFactory(ssn="12", ssn_hash=pii.ssn_hash("12"))
    # when
    services.customer_update(actor=customer_service, customer_id=customer.pk, last_name="Renamed")
    # then
    assert Customer.objects.get(pk=customer.pk).last_name == "Renamed"


def test_a_duplicate_national_id_is_saved_with_a_warning_naming_the_other_customer(client, customer_service):
    # given
    other = factories.CustomerFactory(
        first_name="Ada", last_name="Lovelace", ssn="111-22-3333", ssn_hash=pii.ssn_hash("111-22-3333")
    )
    client.force_login(customer_service)
    # when: the same id, typed differently
    response = client.post(ADD, add_data(ssn="111 22 3333"), follow=True)
    # then: saved, with a warning linking the other record and not repeating the id
    assert Customer.objects.filter(email="grace@example.test").exists()
    warnings = [m for m in messages_of(response) if "national id" in m]
    assert len(warnings) == 1
    assert f'href="{change_url(other)}"' in warnings[0] and "Ada Lovelace" in warnings[0]
    assert "111" not in warnings[0].replace(str(other.pk), "")


def test_a_unique_national_id_gives_no_warning(client, customer_service):
    # given
    factories.CustomerFactory(ssn="999-88-7777", ssn_hash=pii.ssn_hash("999-88-7777"))
    client.force_login(customer_service)
    # when
    response = client.post(ADD, add_data(ssn="111-22-3333"), follow=True)
    # then
    assert Customer.objects.filter(email="grace@example.test").exists()
    assert not [m for m in messages_of(response) if "national id" in m]
