"""Compliance in the admin: audit rows attributed to the signed-in user, read-only audit trail and PII
access log for compliance officers, one access row per unmasked customer view."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from compliance import chain, services
from compliance.models import AuditEntry, PIIAccessLog
from customers.models import Customer
from tests import factories
from tests.customers.test_admin import form_data

pytestmark = pytest.mark.django_db


def _change_url(customer: Customer) -> str:
    return reverse("admin:customers_customer_change", args=[customer.pk])


def test_admin_change_is_audited_with_actor_remote_address_and_request_id(client, superuser):
    # given
    customer = factories.CustomerFactory(first_name="Ada", last_name="Lovelace")
    client.force_login(superuser)
    data = form_data(customer, first_name="Augusta", ssn=customer.ssn)

    # when
    response = client.post(_change_url(customer), data, REMOTE_ADDR="192.0.2.44", HTTP_X_REQUEST_ID="req-admin-1")

    # then
    assert response.status_code == 302, response.content[:2000]
    chain.seal_pending()  # as after the commit
    entry = AuditEntry.objects.filter(object_pk=str(customer.pk)).order_by("-seq").first()
    assert entry.changes["first_name"] == ["Ada", "Augusta"]
    assert (entry.actor, entry.actor_email) == (superuser, superuser.email)
    assert (entry.remote_addr, entry.cid) == ("192.0.2.44", "req-admin-1")
    assert chain.verify_chain().ok


def test_compliance_officer_browses_the_audit_trail_read_only(client, compliance_officer, superuser):
    # given
    services.customer_erase(actor=superuser, customer_id=factories.CustomerFactory().pk, interface="admin")
    entry = AuditEntry.objects.order_by("-seq").first()
    client.force_login(compliance_officer)
    changelist = reverse("admin:compliance_auditentry_changelist")

    # when
    listing = client.get(changelist, {"action__exact": "1"})
    searched = client.get(changelist, {"q": entry.object_pk})
    detail = client.get(reverse("admin:compliance_auditentry_change", args=[entry.pk]))

    # then
    assert listing.status_code == searched.status_code == detail.status_code == 200
    assert entry in searched.context["cl"].result_list
    assert entry.entry_hash in detail.content.decode()
    assert b'name="_save"' not in detail.content


@pytest.mark.parametrize("user_fixture", ["compliance_officer", "superuser"])
def test_nobody_can_add_change_or_delete_audit_rows_in_the_admin(client, request, user_fixture):
    # given
    user = request.getfixturevalue(user_fixture)
    factories.CustomerFactory()
    entry = AuditEntry.objects.order_by("-seq").first()
    client.force_login(user)

    # when
    add = client.get(reverse("admin:compliance_auditentry_add"))
    change = client.post(reverse("admin:compliance_auditentry_change", args=[entry.pk]), {"object_repr": "x"})
    delete = client.post(reverse("admin:compliance_auditentry_delete", args=[entry.pk]), {"post": "yes"})
    bulk = client.post(
        reverse("admin:compliance_auditentry_changelist"),
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )

    # then
    assert add.status_code == 403 and change.status_code == 403 and delete.status_code == 403
    assert bulk.status_code in {200, 302}
    assert AuditEntry.objects.filter(pk=entry.pk, object_repr=entry.object_repr).exists()
    assert chain.verify_chain().ok


def test_other_staff_cannot_see_the_audit_trail_or_the_access_log(client, customer_service):
    # given
    client.force_login(customer_service)

    # when / then
    assert client.get(reverse("admin:compliance_auditentry_changelist")).status_code == 403
    assert client.get(reverse("admin:compliance_piiaccesslog_changelist")).status_code == 403


def test_unmasked_change_view_writes_one_access_row_and_the_log_is_browsable(client, compliance_officer):
    # given
    customer = factories.CustomerFactory()
    client.force_login(compliance_officer)

    # when
    response = client.get(_change_url(customer), REMOTE_ADDR="192.0.2.7", HTTP_X_REQUEST_ID="req-view-1")

    # then
    assert response.status_code == 200
    [access] = PIIAccessLog.objects.all()
    assert (access.actor, access.customer_id, access.interface) == (compliance_officer, customer.pk, "admin")
    assert (access.remote_addr, access.request_id) == ("192.0.2.7", "req-view-1")
    assert set(access.fields) == {"phone", "date_of_birth", "address", "ssn"}
    # An e-mail is searched through the posting search box (it never travels in the URL).
    log = client.post(
        reverse("admin:compliance_piiaccesslog_search"), {"interface__exact": "admin", "q": customer.email}, follow=True
    )
    assert log.status_code == 200 and list(log.context["cl"].result_list) == [access]
    assert client.get(reverse("admin:compliance_piiaccesslog_change", args=[access.pk])).status_code == 200


def test_masked_change_view_writes_no_access_row(client):
    # given: a staff user who may view customers but not their PII in clear
    viewer = factories.UserFactory()
    viewer.user_permissions.add(Permission.objects.get(codename="view_customer", content_type__app_label="customers"))
    customer = factories.CustomerFactory()
    client.force_login(viewer)

    # when
    response = client.get(_change_url(customer))

    # then
    assert response.status_code == 200
    assert customer.phone not in response.content.decode()
    assert not PIIAccessLog.objects.exists()


def test_pii_access_record_writes_one_row_and_nothing_without_fields(customer_service):
    # given
    customer = factories.CustomerFactory()

    # when
    services.pii_access_record(
        actor=customer_service,
        customer_id=customer.pk,
        fields=["phone", "phone"],
        interface="api",
        remote_addr="198.51.100.1",
    )
    services.pii_access_record(
        actor=customer_service, customer_id=customer.pk, fields=[], interface="api", remote_addr=None
    )

    # then
    [row] = PIIAccessLog.objects.all()
    assert (row.fields, row.interface, row.remote_addr) == (["phone"], "api", "198.51.100.1")


# --- constant query counts on the compliance changelists -------------------------------------------------


def _pii_views(n: int, officer) -> None:
    for _ in range(n):
        services.pii_access_record(
            actor=officer, customer_id=factories.CustomerFactory().pk, fields=["phone"], interface="admin"
        )


def _login_attempts(n: int, officer) -> None:
    from vanguard.api_support.models import LoginAttempt

    for i in range(n):
        LoginAttempt.objects.create(
            username=f"nobody{i}@example.com", outcome="failed", interface="admin", ip_address="192.0.2.1"
        )


def _checkpoints(n: int, officer) -> None:
    from compliance.models import AuditCheckpoint

    for i in range(n):
        AuditCheckpoint.objects.create(seq=i, entry_hash="0" * 64, entries=i)


def _verifications(n: int, officer) -> None:
    from compliance.models import AuditVerification

    for i in range(n):
        AuditVerification.objects.create(
            ok=bool(i % 2),
            entries=i,
            head_seq=i,
            breaks=0 if i % 2 else 1,
            first_break="" if i % 2 else f"ALTERED: entry #{i}",
        )


@pytest.mark.parametrize(
    ("changelist", "build"),
    [
        ("admin:compliance_auditentry_changelist", lambda n, officer: factories.CustomerFactory.create_batch(n)),
        ("admin:compliance_piiaccesslog_changelist", _pii_views),
        ("admin:api_support_loginattempt_changelist", _login_attempts),
        ("admin:compliance_auditcheckpoint_changelist", _checkpoints),
        ("admin:compliance_auditverification_changelist", _verifications),
    ],
)
def test_compliance_changelists_run_the_same_queries_for_2_and_22_rows(client, superuser, changelist, build):
    # given
    from tests.admin_support import count_queries

    url = reverse(changelist)
    client.force_login(superuser)
    build(2, superuser)
    client.get(url)  # warm the per-process caches (content types, permissions)
    # when
    with_two = count_queries(client, url)
    build(20, superuser)
    with_twenty_two = count_queries(client, url)
    # then
    assert with_two == with_twenty_two


def test_a_staff_users_history_is_the_audit_trail(client, superuser):
    # given: a change to a staff user made by someone
    from auditlog.context import set_actor

    adjuster = factories.staff("Claims adjuster")
    with set_actor(superuser):
        adjuster.full_name = "Renamed Adjuster"
        adjuster.save()
    client.force_login(superuser)
    # when
    html = client.get(reverse("admin:accounts_user_history", args=[adjuster.pk])).content.decode()
    # then: django-auditlog's view, with the change and who made it
    assert "Renamed Adjuster" in html and superuser.email in html


def test_a_compliance_officer_reads_the_audit_verifications_and_login_attempts(client, compliance_officer):
    client.force_login(compliance_officer)
    for name in (
        "admin:compliance_auditverification_changelist",
        "admin:api_support_loginattempt_changelist",
        "admin:compliance_auditcheckpoint_changelist",
    ):
        assert client.get(reverse(name)).status_code == 200, name
