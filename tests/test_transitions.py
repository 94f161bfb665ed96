"""The transition-table machinery (vanguard.core.transitions) and the admin's form path (issue 11): forms only validate,
the admin view writes through the service after is_valid(); one read-only inline; the document size ceiling."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from claims import checks as claim_checks
from claims.documents import inspect_upload
from claims.forms import ClaimCreateForm
from claims.models import DOCUMENT_SIZE_CEILING, Claim, ClaimEvent
from customers.models import Customer
from tests import factories
from vanguard.admin import ReadOnlyInlineMixin
from vanguard.core.errors import BusinessRuleViolation
from vanguard.core.transitions import Transition, TransitionTable


def _service(*, actor, thing_id, reason: str = "") -> str:
    return f"{thing_id}:{reason}"


def _other(*, actor, thing_id) -> str:
    return f"other {thing_id}"


ROWS = (
    Transition("start", "Start", "app.start", frozenset({"new"}), "busy", _service),
    Transition("resume", "Resume", "app.resume", frozenset({"paused"}), "busy", _other),
    Transition("note", "Note", "app.note", None, None, _service),
)


def test_a_table_refuses_two_rows_of_one_name_or_one_action():
    with pytest.raises(ImproperlyConfigured):
        TransitionTable(ROWS[0], ROWS[0], record_id="thing_id")
    with pytest.raises(ImproperlyConfigured):
        TransitionTable(
            Transition("a", "A", "p", service=_other, action="go"),
            Transition("b", "B", "p", service=_other, action="go"),
            record_id="thing_id",
        )


def test_the_row_leading_to_a_status_is_the_one_allowed_from_the_current_one():
    table = TransitionTable(*ROWS, record_id="thing_id")
    assert table.leading_to("busy", current="paused").name == "resume"
    assert table.leading_to("busy", current="new").name == "start"
    # none allowed: the first row leading there, whose service refuses in its own words
    assert table.leading_to("busy", current="done").name == "start"
    assert table.leading_to("done", current="new") is None


def test_a_row_hands_its_service_only_the_inputs_it_declares():
    table = TransitionTable(*ROWS, record_id="thing_id")
    assert table["start"].accepted({"reason": "why", "amount": 3}) == {"reason": "why"}
    assert table["resume"].accepted({"reason": "why"}) == {}
    assert table.run("start", actor=None, pk=7, reason="why") == "7:why"


def test_the_three_read_only_inlines_share_one_mixin():
    inlines = {
        inline.__name__: inline for model_admin in admin.site._registry.values() for inline in model_admin.inlines
    }
    for name in ("ClaimDocumentInline", "ClaimEventInline", "PolicyEventInline", "PolicyInline"):
        assert issubclass(inlines[name], ReadOnlyInlineMixin), name
        assert not inlines[name](Claim, admin.site).has_add_permission(None)


@pytest.mark.django_db
def test_a_service_form_only_validates_and_writes_nothing(adjuster):
    # given: values the form accepts and the service would refuse (over the coverage), and valid ones
    policy = factories.PolicyFactory(coverage_amount=Decimal("5000.00"))
    data = {
        "policy": str(policy.pk),
        "claim_type": "theft",
        "description": "Stolen",
        "incident_date": f"{policy.start_date + dt.timedelta(days=1):%Y-%m-%d} 12:00:00",
    }
    form_class = type("Form", (ClaimCreateForm,), {"actor": adjuster})
    # when
    over, within = form_class({**data, "claim_amount": "6000.00"}), form_class({**data, "claim_amount": "10.00"})
    # then: both valid as forms (the coverage is the service's rule), and nothing written by validating
    assert over.is_valid() and within.is_valid()
    assert not Claim.objects.exists() and not ClaimEvent.objects.exists()
    # the admin view's call after is_valid() is the one that writes (or refuses)
    with pytest.raises(BusinessRuleViolation):
        over.call_service()
    assert within.call_service().claim_amount == Decimal("10.00") and Claim.objects.count() == 1


def test_document_max_bytes_may_lower_the_databases_ceiling_but_not_raise_it(settings):
    settings.DOCUMENT_MAX_BYTES = DOCUMENT_SIZE_CEILING
    assert claim_checks.check_document_max_bytes(None) == []
    settings.DOCUMENT_MAX_BYTES = 1024
    assert claim_checks.check_document_max_bytes(None) == []
    for wrong in (DOCUMENT_SIZE_CEILING + 1, 0):
        settings.DOCUMENT_MAX_BYTES = wrong
        [error] = claim_checks.check_document_max_bytes(None)
        assert error.id == "claims.E001" and str(DOCUMENT_SIZE_CEILING) in error.msg


def test_an_upload_is_never_accepted_above_the_databases_ceiling(settings):
    # given: a limit set above what the database stores
    settings.DOCUMENT_MAX_BYTES = 2 * DOCUMENT_SIZE_CEILING
    content = b"%PDF-1.4\n" + b"\x00" * DOCUMENT_SIZE_CEILING
    # when / then: refused with the ceiling's figure, not by the database's constraint
    with pytest.raises(BusinessRuleViolation, match="limit of 10 MB"):
        inspect_upload(io.BytesIO(content))


@pytest.mark.django_db
def test_only_the_unique_email_constraint_is_reported_as_a_duplicate_email(customer_service):
    from django.db import IntegrityError, transaction

    from customers import services

    # given: a duplicate address, and a row another constraint on the e-mail refuses (stored lower-case)
    existing = factories.CustomerFactory(email="ada@example.test")
    now = timezone.now()
    duplicate = Customer(email=existing.email, first_name="A", last_name="B", gdpr_consent=True, gdpr_consent_date=now)
    mixed_case = Customer(
        email="Grace@Example.test", first_name="G", last_name="H", gdpr_consent=True, gdpr_consent_date=now
    )
    # when / then: the first is the friendly 409; the second is no duplicate, so not reported as one (each inside
    # a transaction of its own, as the services that call _save hold one)
    with pytest.raises(services.Conflict, match="already exists"), transaction.atomic():
        services._save(duplicate)
    with pytest.raises(IntegrityError, match="customers_customer_email_lowercase"), transaction.atomic():
        services._save(mixed_case)
    assert Customer.objects.count() == 1
