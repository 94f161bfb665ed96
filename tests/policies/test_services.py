"""Policy services (SPEC §2.3): business rules, the full transition table, events, audit and notifications."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from auditlog.context import set_actor
from django.core.exceptions import ValidationError
from django.utils import timezone

from compliance.models import AuditEntry
from policies import services
from policies.models import Policy, PolicyEvent
from tests import factories
from vanguard.core.errors import BusinessRuleViolation, Conflict, NotPermitted, TransitionNotAllowed

pytestmark = pytest.mark.django_db

S = Policy.Status
NOW = timezone.now


def _create(actor, **overrides) -> Policy:
    customer = overrides.pop("customer", None) or factories.CustomerFactory()
    start = overrides.pop("start_date", NOW() - dt.timedelta(days=1))
    kwargs = {
        "customer_id": customer.pk,
        "policy_type": "home",
        "premium_amount": Decimal("250.00"),
        "coverage_amount": Decimal("100000.00"),
        "start_date": start,
        "end_date": start + dt.timedelta(days=365),
    }
    kwargs.update(overrides)
    return services.policy_create(actor=actor, **kwargs)


def _status_audits(policy: Policy) -> list[AuditEntry]:
    entries = AuditEntry.objects.get_for_object(policy).filter(action=AuditEntry.Action.UPDATE)
    return [entry for entry in entries if "status" in (entry.changes or {})]


# --- create -----------------------------------------------------------------------------------------


def test_create_backdated_policy_is_active_with_event_and_audit(underwriter):
    # given
    customer = factories.CustomerFactory()
    # when
    with set_actor(underwriter):
        policy = _create(underwriter, customer=customer, start_date=NOW() - dt.timedelta(days=90))
    # then
    policy.refresh_from_db()
    assert policy.status == S.ACTIVE
    assert policy.policy_number.startswith("POL-") and len(policy.policy_number) == 12
    event = policy.events.get()
    assert (event.kind, event.actor, event.from_status, event.to_status) == ("created", underwriter, "", "active")
    entry = AuditEntry.objects.get_for_object(policy).get(action=AuditEntry.Action.CREATE)
    assert entry.actor == underwriter


def test_create_starting_later_today_is_active(underwriter):
    # given: a start later on the current local day still counts as "today"
    today_end = timezone.localtime().replace(hour=23, minute=59, second=0, microsecond=0)
    # when
    policy = _create(underwriter, start_date=today_end)
    # then
    assert policy.status == S.ACTIVE


def test_create_starting_tomorrow_is_pending(underwriter):
    # when
    policy = _create(underwriter, start_date=NOW() + dt.timedelta(days=1))
    # then
    assert policy.status == S.PENDING


@pytest.mark.parametrize("policy_type", [choice.value for choice in Policy.PolicyType])
def test_premium_below_the_minimum_for_its_type_is_refused(underwriter, settings, policy_type):
    # given: one type with a higher minimum than the rest
    settings.MINIMUM_PREMIUMS = {**settings.MINIMUM_PREMIUMS, policy_type: Decimal("400.00")}
    # when / then
    with pytest.raises(BusinessRuleViolation, match=re.escape("400.00")) as exc:
        _create(underwriter, policy_type=policy_type, premium_amount=Decimal("399.99"))
    assert exc.value.field == "premium_amount"
    assert not Policy.objects.exists()


def test_premium_at_the_minimum_is_accepted(underwriter, settings):
    # given
    settings.MINIMUM_PREMIUMS = {**settings.MINIMUM_PREMIUMS, "life": Decimal("400.00")}
    # when
    policy = _create(underwriter, policy_type="life", premium_amount=Decimal("400.00"))
    # then
    assert policy.premium_amount == Decimal("400.00")


def test_default_minimum_premium_is_100(underwriter):
    # when / then
    with pytest.raises(BusinessRuleViolation, match=re.escape("100.00")):
        _create(underwriter, premium_amount=Decimal("99.99"))


@pytest.mark.parametrize("field", ["premium_amount", "coverage_amount"])
@pytest.mark.parametrize("value", [Decimal("0"), Decimal("-5.00")])
def test_non_positive_money_is_a_validation_error(underwriter, field, value):
    # when / then
    with pytest.raises(ValidationError) as exc:
        _create(underwriter, **{field: value})
    assert field in exc.value.message_dict


@pytest.mark.parametrize("delta", [dt.timedelta(0), dt.timedelta(days=-1)])
def test_end_not_after_start_is_a_validation_error(underwriter, delta):
    # given
    start = NOW() - dt.timedelta(days=1)
    # when / then
    with pytest.raises(ValidationError) as exc:
        _create(underwriter, start_date=start, end_date=start + delta)
    assert "end_date" in exc.value.message_dict


def test_unknown_policy_type_is_a_validation_error(underwriter):
    # when / then
    with pytest.raises(ValidationError) as exc:
        _create(underwriter, policy_type="pet")
    assert "policy_type" in exc.value.message_dict


def test_erased_customer_cannot_take_a_policy(underwriter):
    # given
    customer = factories.CustomerFactory(erased_at=NOW())
    # when / then
    with pytest.raises(Conflict):
        _create(underwriter, customer=customer)


def test_customer_without_consent_cannot_take_a_policy(underwriter):
    # given
    customer = factories.CustomerFactory(gdpr_consent=False)
    # when / then
    with pytest.raises(BusinessRuleViolation, match="consent"):
        _create(underwriter, customer=customer)


# --- update -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("trait", ["pending", "active"])
def test_premium_and_coverage_change_while_pending_or_active(underwriter, trait):
    # given
    policy = factories.PolicyFactory(**({trait: True} if trait != "active" else {}))
    # when
    with set_actor(underwriter):
        updated = services.policy_update(
            actor=underwriter,
            policy_id=policy.pk,
            premium_amount=Decimal("700.00"),
            coverage_amount=Decimal("90000.00"),
        )
    # then
    updated.refresh_from_db()
    assert (updated.premium_amount, updated.coverage_amount) == (Decimal("700.00"), Decimal("90000.00"))
    event = updated.events.get(kind=PolicyEvent.Kind.UPDATED)
    assert event.actor == underwriter
    assert event.data["premium_amount"] == {"from": "500.00", "to": "700.00"}
    entry = AuditEntry.objects.get_for_object(policy).get(action=AuditEntry.Action.UPDATE)
    assert entry.actor == underwriter and "premium_amount" in entry.changes


@pytest.mark.parametrize("field,value", [("premium_amount", Decimal("700.00")), ("coverage_amount", Decimal("1.00"))])
def test_money_change_refused_while_inactive(underwriter, field, value):
    # given
    policy = factories.PolicyFactory(inactive=True)
    # when / then
    with pytest.raises(TransitionNotAllowed, match="pending or active"):
        services.policy_update(actor=underwriter, policy_id=policy.pk, **{field: value})
    policy.refresh_from_db()
    assert getattr(policy, field) != value
    assert not policy.events.exists()


def test_end_date_may_change_while_inactive(underwriter):
    # given
    policy = factories.PolicyFactory(inactive=True)
    new_end = policy.end_date + dt.timedelta(days=30)
    # when
    services.policy_update(actor=underwriter, policy_id=policy.pk, end_date=new_end)
    # then
    policy.refresh_from_db()
    assert policy.end_date == new_end


@pytest.mark.parametrize("trait", ["cancelled", "expired"])
@pytest.mark.parametrize(
    "changes",
    [{"premium_amount": Decimal("700.00")}, {"coverage_amount": Decimal("1000.00")}, {"end_date": "later"}],
)
def test_terminal_policies_refuse_edits(underwriter, trait, changes):
    # given
    policy = factories.PolicyFactory(**{trait: True})
    if changes.get("end_date") == "later":
        changes = {"end_date": policy.end_date + dt.timedelta(days=10)}
    # when / then
    with pytest.raises(TransitionNotAllowed, match="can no longer be changed"):
        services.policy_update(actor=underwriter, policy_id=policy.pk, **changes)
    assert not policy.events.exists()


def test_updated_premium_must_meet_the_minimum(underwriter):
    # given
    policy = factories.PolicyFactory()
    # when / then
    with pytest.raises(BusinessRuleViolation, match="minimum"):
        services.policy_update(actor=underwriter, policy_id=policy.pk, premium_amount=Decimal("50.00"))
    policy.refresh_from_db()
    assert policy.premium_amount == Decimal("500.00")


def test_update_end_before_the_stored_start_is_a_business_rule(underwriter):
    # given
    policy = factories.PolicyFactory()
    # when / then: the start is stored data, not part of the request (SPEC §3: 400, not 422)
    with pytest.raises(BusinessRuleViolation, match="end date"):
        services.policy_update(actor=underwriter, policy_id=policy.pk, end_date=policy.start_date)


def test_update_with_the_same_values_changes_nothing(underwriter):
    # given
    policy = factories.PolicyFactory()
    # when
    services.policy_update(actor=underwriter, policy_id=policy.pk, premium_amount=policy.premium_amount)
    # then
    assert not policy.events.exists()


# --- the transition table ---------------------------------------------------------------------------

TRAITS = {
    S.PENDING: {"pending": True},
    S.ACTIVE: {},
    S.INACTIVE: {"inactive": True},
    S.CANCELLED: {"cancelled": True},
    S.EXPIRED: {"expired": True},
}

# service name -> (target status, event kind, statuses it moves from, kwargs)
TRANSITIONS = {
    "policy_issue": (S.ACTIVE, "issued", {S.PENDING}, {}),
    "policy_suspend": (S.INACTIVE, "suspended", {S.ACTIVE}, {"reason": "Unpaid premium"}),
    "policy_reinstate": (S.ACTIVE, "reinstated", {S.INACTIVE}, {"reason": "Premium paid"}),
    "policy_cancel": (S.CANCELLED, "cancelled", {S.PENDING, S.ACTIVE, S.INACTIVE}, {"reason": "Customer request"}),
    "policy_expire": (S.EXPIRED, "expired", {S.ACTIVE}, {}),
}
TABLE = [(name, source) for name in TRANSITIONS for source in S.values]


def _policy_in(status: str, service: str) -> Policy:
    if service == "policy_expire" and status == S.ACTIVE:
        return factories.PolicyFactory(lapsed=True)  # active with its end date passed: due for expiry
    return factories.PolicyFactory(**TRAITS[status])


@pytest.mark.parametrize("service,source", TABLE)
def test_transition_table(underwriter, service, source, django_capture_on_commit_callbacks, mailoutbox):
    # given
    target, kind, allowed, kwargs = TRANSITIONS[service]
    policy = _policy_in(source, service)
    run = getattr(services, service)
    # when
    with set_actor(underwriter), django_capture_on_commit_callbacks(execute=True):
        if source in allowed or source == target:
            result = run(actor=underwriter, policy_id=policy.pk, **kwargs)
        else:
            with pytest.raises(TransitionNotAllowed):
                run(actor=underwriter, policy_id=policy.pk, **kwargs)
            result = None
    # then
    policy.refresh_from_db()
    events = list(policy.events.all())
    if source in allowed:
        assert result.status == policy.status == target
        [event] = events
        assert (event.actor, event.kind, event.from_status, event.to_status) == (underwriter, kind, source, target)
        assert event.reason == kwargs.get("reason", "")
        [entry] = _status_audits(policy)
        assert entry.actor == underwriter and entry.changes["status"] == [source, target]
        [mail] = mailoutbox
        assert mail.to == [policy.customer.email] and policy.policy_number in mail.subject
    else:
        # a refused transition, or a repeat of one already made: nothing changes, nothing is recorded
        assert policy.status == source
        assert events == [] and _status_audits(policy) == [] and mailoutbox == []


@pytest.mark.parametrize("service", list(TRANSITIONS))
def test_repeating_a_transition_changes_nothing(underwriter, service, django_capture_on_commit_callbacks, mailoutbox):
    # given
    target, _, allowed, kwargs = TRANSITIONS[service]
    policy = _policy_in(sorted(allowed)[0], service)
    run = getattr(services, service)
    run(actor=underwriter, policy_id=policy.pk, **kwargs)
    updated_at = Policy.objects.get(pk=policy.pk).updated_at
    # when
    with django_capture_on_commit_callbacks(execute=True):
        again = run(actor=underwriter, policy_id=policy.pk, **kwargs)
    # then
    assert again.status == target
    assert policy.events.count() == 1
    assert Policy.objects.get(pk=policy.pk).updated_at == updated_at
    assert mailoutbox == []


def test_cancel_records_reason_and_effective_date(underwriter):
    # given
    policy = factories.PolicyFactory()
    effective = NOW() + dt.timedelta(days=14)
    # when
    services.policy_cancel(actor=underwriter, policy_id=policy.pk, reason="  Moved abroad ", effective_date=effective)
    # then
    policy.refresh_from_db()
    assert (policy.cancellation_reason, policy.cancelled_at) == ("Moved abroad", effective)
    assert policy.events.get().data["cancelled_at"] == str(effective)


@pytest.mark.parametrize("reason", ["", "   "])
def test_cancel_needs_a_reason(underwriter, reason):
    # given
    policy = factories.PolicyFactory()
    # when / then
    with pytest.raises(ValidationError) as exc:
        services.policy_cancel(actor=underwriter, policy_id=policy.pk, reason=reason)
    assert "reason" in exc.value.message_dict
    policy.refresh_from_db()
    assert policy.status == S.ACTIVE


def test_expire_before_the_end_date_is_refused(underwriter):
    # given
    policy = factories.PolicyFactory()
    # when / then
    with pytest.raises(BusinessRuleViolation, match="end date"):
        services.policy_expire(actor=underwriter, policy_id=policy.pk)
    policy.refresh_from_db()
    assert policy.status == S.ACTIVE


# --- renew ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [S.ACTIVE, S.EXPIRED])
def test_renew_creates_the_next_term(underwriter, source, django_capture_on_commit_callbacks, mailoutbox):
    # given
    policy = factories.PolicyFactory(**TRAITS[source])
    # when
    with set_actor(underwriter), django_capture_on_commit_callbacks(execute=True):
        renewal = services.policy_renew(actor=underwriter, policy_id=policy.pk)
    # then
    policy.refresh_from_db()
    assert policy.status == source  # the old term keeps its status
    assert renewal.renewal_of == policy and renewal.customer_id == policy.customer_id
    assert renewal.policy_type == policy.policy_type and renewal.premium_amount == policy.premium_amount
    assert renewal.start_date == policy.end_date
    assert renewal.end_date - renewal.start_date == policy.end_date - policy.start_date
    assert renewal.policy_number != policy.policy_number
    assert renewal.status == (S.ACTIVE if renewal.start_date <= NOW() else S.PENDING)
    event = policy.events.get(kind=PolicyEvent.Kind.RENEWED)
    assert event.actor == underwriter and event.data["renewal_id"] == str(renewal.pk)
    assert renewal.events.get().kind == PolicyEvent.Kind.CREATED
    assert AuditEntry.objects.get_for_object(renewal).get(action=AuditEntry.Action.CREATE).actor == underwriter
    assert [mail.to for mail in mailoutbox] == [[policy.customer.email]]


@pytest.mark.parametrize("source", [S.PENDING, S.INACTIVE, S.CANCELLED])
def test_renew_refused(underwriter, source):
    # given
    policy = factories.PolicyFactory(**TRAITS[source])
    # when / then
    with pytest.raises(TransitionNotAllowed):
        services.policy_renew(actor=underwriter, policy_id=policy.pk)
    assert Policy.objects.count() == 1 and not PolicyEvent.objects.exists()


def test_a_default_renewal_ending_after_the_last_year_is_a_business_rule_and_writes_nothing(underwriter):
    # given a term that ends late in 2999: renewed by its own length, it would end in 3000
    policy = factories.PolicyFactory(
        start_date=dt.datetime(2998, 6, 1, tzinfo=dt.UTC), end_date=dt.datetime(2999, 6, 1, tzinfo=dt.UTC)
    )
    # when / then: a 400 on the stored term (the caller sent no end date to be a 422 about)
    with pytest.raises(BusinessRuleViolation, match=r"would end on 3000-06-01, after the year 2999") as caught:
        services.policy_renew(actor=underwriter, policy_id=policy.pk)
    assert caught.value.field == "end_date"
    assert Policy.objects.count() == 1 and not PolicyEvent.objects.exists()
    # and an end date given within the range renews it
    renewal = services.policy_renew(
        actor=underwriter, policy_id=policy.pk, end_date=dt.datetime(2999, 12, 1, tzinfo=dt.UTC)
    )
    assert renewal.start_date == policy.end_date and renewal.end_date.year == 2999


def test_renewing_twice_returns_the_same_renewal(underwriter):
    # given
    policy = factories.PolicyFactory()
    first = services.policy_renew(actor=underwriter, policy_id=policy.pk)
    # when
    second = services.policy_renew(actor=underwriter, policy_id=policy.pk)
    # then
    assert second == first
    assert Policy.objects.filter(renewal_of=policy).count() == 1
    assert policy.events.filter(kind=PolicyEvent.Kind.RENEWED).count() == 1


# --- compliance audit -------------------------------------------------------------------------------


def test_compliance_officer_records_an_audit(compliance_officer):
    # given
    policy = factories.PolicyFactory()
    # when
    with set_actor(compliance_officer):
        services.policy_record_audit(
            actor=compliance_officer, policy_id=policy.pk, outcome="non_compliant", note="Missing signature"
        )
    # then
    policy.refresh_from_db()
    assert policy.compliance_status == "non_compliant" and policy.last_audit_date is not None
    event = policy.events.get()
    assert (event.kind, event.actor, event.reason) == ("audited", compliance_officer, "Missing signature")
    assert AuditEntry.objects.get_for_object(policy).get(action=AuditEntry.Action.UPDATE).actor == compliance_officer


def test_unknown_audit_outcome_is_a_validation_error(compliance_officer):
    # given
    policy = factories.PolicyFactory()
    # when / then
    with pytest.raises(ValidationError):
        services.policy_record_audit(actor=compliance_officer, policy_id=policy.pk, outcome="fine")


# --- permissions (SPEC §2.1) ------------------------------------------------------------------------

ROLES = ["customer_service", "underwriter", "adjuster", "manager", "compliance_officer", "superuser"]
WRITERS = {"underwriter", "superuser"}
PERMITTED = {
    "policy_create": WRITERS,
    "policy_update": WRITERS,
    "policy_issue": WRITERS,
    "policy_suspend": WRITERS,
    "policy_reinstate": WRITERS,
    "policy_cancel": WRITERS,
    "policy_expire": WRITERS,
    "policy_renew": WRITERS,
    "policy_record_audit": {"compliance_officer", "superuser"},
}


def _call(service: str, actor):
    if service == "policy_create":
        return _create(actor)
    policy = factories.PolicyFactory(
        **{
            "policy_issue": {"pending": True},
            "policy_reinstate": {"inactive": True},
            "policy_expire": {"lapsed": True},
        }.get(service, {})
    )
    kwargs = {
        "policy_update": {"premium_amount": Decimal("600.00")},
        "policy_suspend": {"reason": "x"},
        "policy_cancel": {"reason": "x"},
        "policy_record_audit": {"outcome": "compliant"},
    }.get(service, {})
    return getattr(services, service)(actor=actor, policy_id=policy.pk, **kwargs)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("service", list(PERMITTED))
def test_permissions_per_role(request, role, service):
    # given
    actor = request.getfixturevalue(role)
    # when / then
    if role in PERMITTED[service]:
        assert _call(service, actor) is not None
    else:
        with pytest.raises(NotPermitted):
            _call(service, actor)
        assert not PolicyEvent.objects.exists()
