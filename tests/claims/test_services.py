"""Claim services (SPEC §2.4): business rules, the full transition table, authority, events, audit, notices."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from auditlog.context import set_actor
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils import timezone

from claims import services
from claims.models import Claim, ClaimEvent
from compliance.models import AuditEntry
from policies.models import Policy
from tests import factories
from vanguard.accounts import roles
from vanguard.core.errors import AuthorityExceeded, BusinessRuleViolation, NotPermitted, TransitionNotAllowed

pytestmark = pytest.mark.django_db

S = Claim.Status
NOW = timezone.now


def _file(actor, policy: Policy, **overrides) -> Claim:
    kwargs = {
        "policy_id": policy.pk,
        "claim_type": "theft",
        "claim_amount": Decimal("2500.00"),
        "incident_date": NOW() - dt.timedelta(days=2),
        "description": "Bicycle stolen from the garage.",
    }
    kwargs.update(overrides)
    return services.claim_create(actor=actor, **kwargs)


def _status_audits(claim: Claim) -> list[AuditEntry]:
    entries = AuditEntry.objects.get_for_object(claim).filter(action=AuditEntry.Action.UPDATE)
    return [entry for entry in entries if "status" in (entry.changes or {})]


# --- create -----------------------------------------------------------------------------------------


def test_create_files_a_pending_claim_with_event_audit_and_notice(
    adjuster, django_capture_on_commit_callbacks, mailoutbox
):
    # given
    policy = factories.PolicyFactory()
    # when
    with set_actor(adjuster), django_capture_on_commit_callbacks(execute=True):
        claim = _file(adjuster, policy)
    # then
    claim.refresh_from_db()
    assert claim.status == S.PENDING and claim.created_by == adjuster and claim.reported_date is not None
    assert claim.claim_number.startswith("CLM-") and len(claim.claim_number) == 12
    event = claim.events.get()
    assert (event.kind, event.actor, event.to_status) == ("created", adjuster, "pending")
    assert AuditEntry.objects.get_for_object(claim).get(action=AuditEntry.Action.CREATE).actor == adjuster
    [mail] = mailoutbox
    assert mail.to == [policy.customer.email] and claim.claim_number in mail.subject


def test_claim_up_to_the_coverage_is_accepted(adjuster):
    # given
    policy = factories.PolicyFactory(coverage_amount=Decimal("5000.00"))
    # when
    claim = _file(adjuster, policy, claim_amount=Decimal("5000.00"))
    # then
    assert claim.claim_amount == Decimal("5000.00")


def test_claim_above_the_coverage_is_refused(adjuster):
    # given
    policy = factories.PolicyFactory(coverage_amount=Decimal("5000.00"))
    # when / then
    with pytest.raises(BusinessRuleViolation, match=re.escape("5,000.00")) as exc:
        _file(adjuster, policy, claim_amount=Decimal("5000.01"))
    assert exc.value.field == "claim_amount"
    assert not Claim.objects.exists()


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-1.00")])
def test_non_positive_claim_amount_is_a_validation_error(adjuster, amount):
    # when / then
    with pytest.raises(ValidationError) as exc:
        _file(adjuster, factories.PolicyFactory(), claim_amount=amount)
    assert "claim_amount" in exc.value.message_dict


def test_incident_in_the_future_is_a_validation_error(adjuster):
    # when / then
    with pytest.raises(ValidationError) as exc:
        _file(adjuster, factories.PolicyFactory(), incident_date=NOW() + dt.timedelta(hours=1))
    assert "incident_date" in exc.value.message_dict


def test_incident_before_the_policy_term_is_refused(adjuster):
    # given
    policy = factories.PolicyFactory()
    # when / then
    with pytest.raises(BusinessRuleViolation, match="outside the policy term") as exc:
        _file(adjuster, policy, incident_date=policy.start_date - dt.timedelta(seconds=1))
    assert exc.value.field == "incident_date"


def test_incident_after_the_policy_term_is_refused(adjuster):
    # given: an expired policy whose term ended 35 days ago
    policy = factories.PolicyFactory(expired=True)
    # when / then
    with pytest.raises(BusinessRuleViolation, match="outside the policy term"):
        _file(adjuster, policy, incident_date=policy.end_date + dt.timedelta(days=1))


def test_incident_on_the_first_moment_of_the_term_is_accepted(adjuster):
    # given
    policy = factories.PolicyFactory()
    # when
    claim = _file(adjuster, policy, incident_date=policy.start_date)
    # then
    assert claim.incident_date == policy.start_date


@pytest.mark.parametrize("trait", [{}, {"inactive": True}, {"expired": True}])
def test_claimable_policy_statuses(adjuster, trait):
    # given
    policy = factories.PolicyFactory(**trait)
    incident = min(NOW(), policy.end_date) - dt.timedelta(days=1)
    # when
    claim = _file(adjuster, policy, incident_date=incident)
    # then
    assert claim.pk is not None


@pytest.mark.parametrize("trait", ["pending", "cancelled"])
def test_unclaimable_policy_statuses(adjuster, trait):
    # given
    policy = factories.PolicyFactory(**{trait: True})
    # when / then
    with pytest.raises(BusinessRuleViolation, match=trait):
        _file(adjuster, policy)
    assert not Claim.objects.exists()


# --- update -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("trait", [{}, {"processing": True}])
def test_description_editable_before_a_decision(adjuster, trait):
    # given
    claim = factories.ClaimFactory(**trait)
    # when
    services.claim_update(actor=adjuster, claim_id=claim.pk, description="Updated account.")
    # then
    claim.refresh_from_db()
    assert claim.description == "Updated account."
    assert claim.events.get().kind == ClaimEvent.Kind.UPDATED


@pytest.mark.parametrize("trait", ["approved", "denied", "paid", "closed"])
def test_description_frozen_after_a_decision(adjuster, trait):
    # given
    claim = factories.ClaimFactory(**{trait: True})
    # when / then
    with pytest.raises(TransitionNotAllowed):
        services.claim_update(actor=adjuster, claim_id=claim.pk, description="Changed story.")


# --- the transition table ---------------------------------------------------------------------------

# An approved claim here has its approved amount issued (`settled`): the only approved claim that may be marked
# paid by hand (SPEC §10.2; the refusal otherwise is in test_financials_services.py).
TRAITS = {
    S.PENDING: {},
    S.PROCESSING: {"processing": True},
    S.APPROVED: {"settled": True},
    S.DENIED: {"denied": True},
    S.PAID: {"paid": True},
    S.CLOSED: {"closed": True},
}

# service -> (target, statuses it moves from, kwargs). The factory's denied reason is "Not covered", so
# denying a denied claim with that reason is a repeat.
TRANSITIONS = {
    "claim_start_processing": (S.PROCESSING, {S.PENDING}, {}),
    "claim_approve": (S.APPROVED, {S.PENDING, S.PROCESSING}, {}),
    "claim_deny": (S.DENIED, {S.PENDING, S.PROCESSING}, {"reason": "Not covered"}),
    "claim_mark_paid": (S.PAID, {S.APPROVED}, {}),
    "claim_close": (S.CLOSED, {S.PAID, S.DENIED}, {"reason": "Settled"}),
    "claim_reopen": (S.PROCESSING, {S.DENIED, S.CLOSED}, {"reason": "New evidence"}),
}
TABLE = [(name, source) for name in TRANSITIONS for source in S.values]


@pytest.mark.parametrize("service,source", TABLE)
def test_transition_table(manager, service, source, django_capture_on_commit_callbacks, mailoutbox):
    # given
    target, allowed, kwargs = TRANSITIONS[service]
    claim = factories.ClaimFactory(**TRAITS[source])
    run = getattr(services, service)
    # when
    with set_actor(manager), django_capture_on_commit_callbacks(execute=True):
        if source in allowed or source == target:
            result = run(actor=manager, claim_id=claim.pk, **kwargs)
        else:
            with pytest.raises(TransitionNotAllowed):
                run(actor=manager, claim_id=claim.pk, **kwargs)
            result = None
    # then
    claim.refresh_from_db()
    events = list(claim.events.all())
    if source in allowed:
        assert result.status == claim.status == target
        [event] = events
        assert (event.actor, event.kind, event.from_status, event.to_status) == (
            manager,
            "status_changed",
            source,
            target,
        )
        assert event.reason == kwargs.get("reason", "")
        [entry] = _status_audits(claim)
        assert entry.actor == manager and entry.changes["status"] == [source, target]
        [mail] = mailoutbox
        assert claim.policy.customer.email in mail.to and claim.get_status_display() in mail.subject
    else:
        assert claim.status == source
        assert events == [] and _status_audits(claim) == [] and mailoutbox == []


@pytest.mark.parametrize("service", list(TRANSITIONS))
def test_repeating_a_transition_changes_nothing(manager, service, django_capture_on_commit_callbacks, mailoutbox):
    # given
    target, allowed, kwargs = TRANSITIONS[service]
    claim = factories.ClaimFactory(**TRAITS[sorted(allowed)[0]])
    run = getattr(services, service)
    run(actor=manager, claim_id=claim.pk, **kwargs)
    updated_at = Claim.objects.get(pk=claim.pk).updated_at
    # when
    with django_capture_on_commit_callbacks(execute=True):
        again = run(actor=manager, claim_id=claim.pk, **kwargs)
    # then
    assert again.status == target
    assert claim.events.count() == 1
    assert Claim.objects.get(pk=claim.pk).updated_at == updated_at
    assert mailoutbox == []


def test_approve_sets_the_decision(adjuster):
    # given
    claim = factories.ClaimFactory(processing=True)
    # when
    services.claim_approve(actor=adjuster, claim_id=claim.pk, amount=Decimal("800.00"), note="Depreciation")
    # then
    claim.refresh_from_db()
    assert (claim.approved_amount, claim.decided_by, claim.decision_reason) == (
        Decimal("800.00"),
        adjuster,
        "Depreciation",
    )
    assert claim.processed_date is not None
    assert claim.events.get().data == {"amount": "800.00"}


def test_approving_again_with_another_amount_is_refused(adjuster):
    # given
    claim = factories.ClaimFactory(approved=True)
    # when / then
    with pytest.raises(TransitionNotAllowed):
        services.claim_approve(actor=adjuster, claim_id=claim.pk, amount=Decimal("10.00"))


def test_approved_amount_above_the_claim_is_refused(adjuster):
    # given
    claim = factories.ClaimFactory()
    # when / then
    with pytest.raises(BusinessRuleViolation, match="exceeds the claimed"):
        services.claim_approve(actor=adjuster, claim_id=claim.pk, amount=Decimal("1000.01"))


def test_approved_amount_above_the_coverage_is_refused(adjuster):
    # given: the cover was reduced after the claim was filed
    claim = factories.ClaimFactory()
    Policy.objects.filter(pk=claim.policy_id).update(coverage_amount=Decimal("600.00"))
    # when / then
    with pytest.raises(BusinessRuleViolation, match=re.escape("coverage of 600.00")):
        services.claim_approve(actor=adjuster, claim_id=claim.pk, amount=Decimal("700.00"))


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-10.00")])
def test_non_positive_approved_amount_is_a_validation_error(adjuster, amount):
    # given
    claim = factories.ClaimFactory()
    # when / then
    with pytest.raises(ValidationError):
        services.claim_approve(actor=adjuster, claim_id=claim.pk, amount=amount)


@pytest.mark.parametrize("reason", ["", "  "])
def test_deny_needs_a_reason(adjuster, reason):
    # given
    claim = factories.ClaimFactory()
    # when / then
    with pytest.raises(ValidationError) as exc:
        services.claim_deny(actor=adjuster, claim_id=claim.pk, reason=reason)
    assert "decision_reason" in exc.value.message_dict
    claim.refresh_from_db()
    assert claim.status == S.PENDING


def test_reopen_clears_the_decision_and_keeps_it_in_the_event(manager):
    # given
    claim = factories.ClaimFactory(denied=True)
    # when
    services.claim_reopen(actor=manager, claim_id=claim.pk, reason="Appeal")
    # then
    claim.refresh_from_db()
    assert (claim.status, claim.decision_reason, claim.approved_amount, claim.decided_by) == (
        S.PROCESSING,
        "",
        None,
        None,
    )
    assert claim.events.get().data["previous_decision"] == "Not covered"


@pytest.mark.parametrize("role", ["adjuster", "customer_service", "underwriter", "compliance_officer"])
def test_reopen_is_for_managers_only(request, role):
    # given
    claim = factories.ClaimFactory(denied=True)
    # when / then
    with pytest.raises(NotPermitted):
        services.claim_reopen(actor=request.getfixturevalue(role), claim_id=claim.pk)
    claim.refresh_from_db()
    assert claim.status == S.DENIED


def test_start_processing_assigns_an_unassigned_claim_to_the_actor(adjuster):
    # given
    claim = factories.ClaimFactory()
    # when
    services.claim_start_processing(actor=adjuster, claim_id=claim.pk)
    # then
    claim.refresh_from_db()
    assert claim.assigned_to == adjuster


# --- authority (SPEC §2.1) --------------------------------------------------------------------------


def _claim_of(amount: str) -> Claim:
    return factories.ClaimFactory(
        claim_amount=Decimal(amount), policy=factories.PolicyFactory(coverage_amount=Decimal("5000000.00"))
    )


@pytest.mark.parametrize(
    "role,amount,allowed",
    [
        ("adjuster", "10000.00", True),
        ("adjuster", "10000.01", False),
        ("manager", "100000.00", True),
        ("manager", "100000.01", False),
        ("superuser", "4999999.99", True),
    ],
)
def test_authority_limit_per_role(request, role, amount, allowed):
    # given
    actor = request.getfixturevalue(role)
    claim = _claim_of(amount)
    # when / then
    if allowed:
        assert services.claim_approve(actor=actor, claim_id=claim.pk).status == S.APPROVED
    else:
        limit = "10,000.00" if role == "adjuster" else "100,000.00"
        with pytest.raises(AuthorityExceeded, match=re.escape(f"authority limit of {limit}")) as exc:
            services.claim_approve(actor=actor, claim_id=claim.pk)
        assert exc.value.status_code == 403
        claim.refresh_from_db()
        assert claim.status == S.PENDING and not claim.events.exists()


@pytest.mark.parametrize(
    "own_limit,amount,allowed",
    [("500.00", "500.00", True), ("500.00", "500.01", False), ("50000.00", "40000.00", True), ("0.00", "0.01", False)],
)
def test_per_user_override_beats_the_role_default(own_limit, amount, allowed):
    # given: an adjuster (role default 10,000) with their own limit
    actor = factories.staff(roles.CLAIMS_ADJUSTER, authority_limit=Decimal(own_limit))
    claim = _claim_of(amount)
    # when / then
    if allowed:
        services.claim_approve(actor=actor, claim_id=claim.pk)
    else:
        with pytest.raises(AuthorityExceeded, match=re.escape(f"{Decimal(own_limit):,.2f}")):
            services.claim_approve(actor=actor, claim_id=claim.pk)


def test_role_defaults_come_from_settings(settings):
    # given
    settings.AUTHORITY_LIMITS = {**settings.AUTHORITY_LIMITS, roles.CLAIMS_ADJUSTER: Decimal("300.00")}
    actor = factories.staff(roles.CLAIMS_ADJUSTER)
    # when / then
    with pytest.raises(AuthorityExceeded, match=re.escape("300.00")):
        services.claim_approve(actor=actor, claim_id=_claim_of("300.01").pk)


def test_the_highest_role_limit_applies_to_a_user_with_two_roles():
    # given
    actor = factories.staff(roles.CLAIMS_ADJUSTER)
    actor.groups.add(Group.objects.get(name=roles.CLAIMS_MANAGER))
    # when
    claim = services.claim_approve(actor=actor, claim_id=_claim_of("50000.00").pk)
    # then
    assert claim.status == S.APPROVED


def _assigned_claim_of(amount: str, assignee) -> Claim:
    return factories.ClaimFactory(
        processing=True,
        assigned_to=assignee,
        claim_amount=Decimal(amount),
        policy=factories.PolicyFactory(coverage_amount=Decimal("5000000.00")),
    )


def test_an_adjuster_cannot_approve_beyond_their_own_limit_a_claim_assigned_to_a_manager(adjuster, manager):
    # given: 50,000 is within the assignee's (manager's) authority, not the approver's (10,000)
    claim = _assigned_claim_of("50000.00", manager)
    # when / then
    with pytest.raises(AuthorityExceeded, match=re.escape("authority limit of 10,000.00")):
        services.claim_approve(actor=adjuster, claim_id=claim.pk)
    claim.refresh_from_db()
    assert claim.status == S.PROCESSING and claim.approved_amount is None and not claim.events.exists()


def test_a_manager_approves_within_their_own_limit_a_claim_assigned_to_an_adjuster(adjuster, manager):
    # given: 50,000 is beyond the assignee's (adjuster's) authority, within the approver's (100,000)
    claim = _assigned_claim_of("50000.00", adjuster)
    # when
    approved = services.claim_approve(actor=manager, claim_id=claim.pk)
    # then
    assert (approved.status, approved.approved_amount, approved.decided_by) == (
        S.APPROVED,
        Decimal("50000.00"),
        manager,
    )


# --- assignment -------------------------------------------------------------------------------------


def test_manager_assigns_an_adjuster(manager, adjuster, django_capture_on_commit_callbacks, mailoutbox):
    # given
    claim = factories.ClaimFactory()
    # when
    with set_actor(manager), django_capture_on_commit_callbacks(execute=True):
        services.claim_assign(actor=manager, claim_id=claim.pk, assignee_id=adjuster.pk)
    # then
    claim.refresh_from_db()
    assert claim.assigned_to == adjuster
    event = claim.events.get()
    assert (event.kind, event.actor, event.data["to"]) == ("assigned", manager, str(adjuster.pk))
    assert AuditEntry.objects.get_for_object(claim).get(action=AuditEntry.Action.UPDATE).actor == manager
    [mail] = mailoutbox
    assert adjuster.email in mail.to


def test_assigning_to_the_current_assignee_changes_nothing(manager, adjuster):
    # given
    claim = factories.ClaimFactory(assigned_to=adjuster)
    # when
    services.claim_assign(actor=manager, claim_id=claim.pk, assignee_id=adjuster.pk)
    # then
    assert not claim.events.exists()


def test_manager_unassigns(manager, adjuster):
    # given
    claim = factories.ClaimFactory(assigned_to=adjuster)
    # when
    services.claim_assign(actor=manager, claim_id=claim.pk, assignee_id=None)
    # then
    claim.refresh_from_db()
    assert claim.assigned_to is None


def test_adjuster_takes_an_unassigned_claim(adjuster):
    # given
    claim = factories.ClaimFactory()
    # when
    services.claim_assign(actor=adjuster, claim_id=claim.pk, assignee_id=adjuster.pk)
    # then
    claim.refresh_from_db()
    assert claim.assigned_to == adjuster


def test_adjuster_cannot_take_a_claim_assigned_to_someone_else(adjuster):
    # given
    other = factories.staff(roles.CLAIMS_ADJUSTER)
    claim = factories.ClaimFactory(assigned_to=other)
    # when / then
    with pytest.raises(TransitionNotAllowed, match="already assigned"):
        services.claim_assign(actor=adjuster, claim_id=claim.pk, assignee_id=adjuster.pk)


def test_adjuster_cannot_assign_others(adjuster):
    # given
    other = factories.staff(roles.CLAIMS_ADJUSTER)
    claim = factories.ClaimFactory()
    # when / then
    with pytest.raises(NotPermitted):
        services.claim_assign(actor=adjuster, claim_id=claim.pk, assignee_id=other.pk)


def test_assignee_must_handle_claims(manager, customer_service):
    # given
    claim = factories.ClaimFactory()
    # when / then
    with pytest.raises(BusinessRuleViolation, match="cannot handle claims"):
        services.claim_assign(actor=manager, claim_id=claim.pk, assignee_id=customer_service.pk)


def test_assignee_must_be_active_staff(manager):
    # given
    gone = factories.staff(roles.CLAIMS_ADJUSTER, is_active=False)
    claim = factories.ClaimFactory()
    # when / then: whom the id names is stored data, a business rule (400), like "cannot handle claims"
    with pytest.raises(BusinessRuleViolation, match="assigned_to"):
        services.claim_assign(actor=manager, claim_id=claim.pk, assignee_id=gone.pk)


@pytest.mark.parametrize("trait", ["paid", "closed"])
def test_settled_claims_cannot_be_reassigned(manager, adjuster, trait):
    # given
    claim = factories.ClaimFactory(**{trait: True})
    # when / then
    with pytest.raises(TransitionNotAllowed):
        services.claim_assign(actor=manager, claim_id=claim.pk, assignee_id=adjuster.pk)


# --- permissions (SPEC §2.1) ------------------------------------------------------------------------

ROLES = ["customer_service", "underwriter", "adjuster", "manager", "compliance_officer", "superuser"]
HANDLERS = {"adjuster", "manager", "superuser"}
PERMITTED = {
    "claim_create": HANDLERS,
    "claim_update": HANDLERS,
    "claim_start_processing": HANDLERS,
    "claim_approve": HANDLERS,
    "claim_deny": HANDLERS,
    "claim_mark_paid": HANDLERS,
    "claim_close": HANDLERS,
    "claim_reopen": {"manager", "superuser"},
    "claim_assign": {"manager", "superuser"},
    "claim_document_add": HANDLERS,
}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64


def _call(service: str, actor):
    if service == "claim_create":
        return _file(actor, factories.PolicyFactory())
    claim = factories.ClaimFactory(
        **{"claim_mark_paid": {"settled": True}, "claim_close": {"paid": True}, "claim_reopen": {"denied": True}}.get(
            service, {}
        )
    )
    kwargs = {
        "claim_update": {"description": "More detail"},
        "claim_deny": {"reason": "Excluded"},
        "claim_assign": {"assignee_id": factories.staff(roles.CLAIMS_ADJUSTER).pk},
        "claim_document_add": {"fileobj": io.BytesIO(PNG), "filename": "photo.png"},
    }.get(service, {})
    return getattr(services, service)(actor=actor, claim_id=claim.pk, **kwargs)


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
        assert not ClaimEvent.objects.exists()
