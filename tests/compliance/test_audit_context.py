"""compliance.audit.audit_context: the actor and address of audit entries, without a signal receiver per use."""

from __future__ import annotations

from auditlog.context import auditlog_value, set_actor
from django.db.models.signals import pre_save

from compliance.audit import audit_context
from compliance.models import AuditEntry
from customers.models import Customer
from tests.customers.test_admin import form_data
from tests.customers.test_api import NEW
from tests.factories import CustomerFactory


def _counting_connects(monkeypatch) -> list:
    calls: list = []
    original = pre_save.connect

    def connect(*args, **kwargs):
        calls.append(kwargs.get("dispatch_uid"))
        return original(*args, **kwargs)

    monkeypatch.setattr(pre_save, "connect", connect)
    return calls


def test_an_api_write_is_attributed_without_connecting_a_receiver(api_as, customer_service, monkeypatch):
    # given: pre_save's receivers as they stand, and every connect counted
    connects = _counting_connects(monkeypatch)
    receivers = len(pre_save.receivers)
    # when
    response = api_as(customer_service, remote_addr="10.4.5.6").post("/api/customers", NEW)
    # then: attributed as before, with no receiver connected (auditlog's set_extra_data connected one per request)
    assert response.status_code == 201
    entry = AuditEntry.objects.get(object_pk=response.json()["id"], action=AuditEntry.Action.CREATE)
    assert (entry.actor, entry.remote_addr) == (customer_service, "10.4.5.6")
    assert connects == []
    assert len(pre_save.receivers) == receivers


def test_an_admin_write_is_attributed_without_connecting_a_receiver(client, superuser, monkeypatch):
    # given: the admin's session path (the middleware's sync branch under the test client)
    customer = CustomerFactory(first_name="Ada")
    client.force_login(superuser)
    data = form_data(customer, first_name="Augusta", ssn=customer.ssn)
    connects = _counting_connects(monkeypatch)
    # when
    response = client.post(f"/admin/customers/customer/{customer.pk}/change/", data, REMOTE_ADDR="192.0.2.45")
    # then
    assert response.status_code == 302, response.content[:2000]
    entry = AuditEntry.objects.get(object_pk=str(customer.pk), action=AuditEntry.Action.UPDATE)
    assert entry.changes["first_name"] == ["Ada", "Augusta"]
    assert (entry.actor, entry.remote_addr) == (superuser, "192.0.2.45")
    assert connects == []


def test_a_nested_context_gives_the_outer_one_back(db, superuser, customer_service):
    # given (auditlog's set_actor, used by other tests, leaves its last context set: compare with what was there)
    before = auditlog_value.get(None)
    with audit_context(actor=superuser, remote_addr="10.0.0.1"):
        with audit_context(actor=customer_service, remote_addr="10.0.0.2"):
            inner = CustomerFactory()
        # when: the inner block has ended
        outer = CustomerFactory()

    # then: each entry has its own block's actor, and nothing is left set afterwards
    def created(customer: Customer) -> AuditEntry:
        return AuditEntry.objects.get(object_pk=str(customer.pk), action=AuditEntry.Action.CREATE)

    assert (created(inner).actor, created(inner).remote_addr) == (customer_service, "10.0.0.2")
    assert (created(outer).actor, created(outer).remote_addr) == (superuser, "10.0.0.1")
    assert auditlog_value.get(None) is before
    assert created(CustomerFactory()).actor is None


def test_auditlogs_own_set_actor_still_attributes_beside_it(db, superuser, customer_service):
    # given: auditlog's context manager (its own receiver and dispatch id) inside ours
    with audit_context(actor=customer_service, remote_addr="10.0.0.3"), set_actor(superuser, remote_addr="10.0.0.4"):
        customer = CustomerFactory()
    # then: auditlog's context, the innermost, applies, once
    entry = AuditEntry.objects.get(object_pk=str(customer.pk), action=AuditEntry.Action.CREATE)
    assert (entry.actor, entry.remote_addr) == (superuser, "10.0.0.4")
