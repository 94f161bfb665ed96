"""Policies (SPEC §2.3) and their domain events."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q

from vanguard.core.events import DomainEvent


class PolicyQuerySet(models.QuerySet):
    def lock_for_update(self):
        """Row lock for a transition: FOR NO KEY UPDATE OF the policy row only."""
        return self.select_for_update(no_key=True, of=("self",))

    def claimable(self):
        return self.filter(status__in=Policy.CLAIMABLE_STATUSES)


class PolicyType(models.TextChoices):
    AUTO = "auto", "Auto"
    HOME = "home", "Home"
    LIFE = "life", "Life"
    HEALTH = "health", "Health"
    BUSINESS = "business", "Business"


class PolicyStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive (suspended)"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


class ComplianceStatus(models.TextChoices):
    COMPLIANT = "compliant", "Compliant"
    REVIEW_REQUIRED = "review_required", "Review required"
    NON_COMPLIANT = "non_compliant", "Non-compliant"


class Policy(models.Model):
    PolicyType = PolicyType

    Status = PolicyStatus

    ComplianceStatus = ComplianceStatus

    CLAIMABLE_STATUSES = frozenset({PolicyStatus.ACTIVE, PolicyStatus.INACTIVE, PolicyStatus.EXPIRED})
    TERMINAL_STATUSES = frozenset({PolicyStatus.CANCELLED, PolicyStatus.EXPIRED})
    AMENDABLE_STATUSES = frozenset({PolicyStatus.PENDING, PolicyStatus.ACTIVE})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    policy_number = models.CharField(max_length=12, unique=True, editable=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="policies")
    policy_type = models.CharField(max_length=16, choices=PolicyType.choices)
    premium_amount = models.DecimalField(max_digits=10, decimal_places=2)
    coverage_amount = models.DecimalField(max_digits=15, decimal_places=2)
    start_date = models.DateTimeField()
    end_date = models.DateTimeField()
    status = models.CharField(max_length=16, choices=PolicyStatus.choices, default=PolicyStatus.ACTIVE)
    compliance_status = models.CharField(
        max_length=16, choices=ComplianceStatus.choices, default=ComplianceStatus.COMPLIANT
    )
    last_audit_date = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.TextField(blank=True, default="")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    renewal_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="renewals")
    created_at = models.DateTimeField(auto_now_add=True)  # indexed with id: Meta.indexes
    updated_at = models.DateTimeField(auto_now=True)

    objects = PolicyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "policies"
        permissions = [
            ("transition_policy", "Can issue, suspend, reinstate, cancel and renew policies"),
            ("audit_policy", "Can record a compliance audit of a policy"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(premium_amount__gt=0), name="policies_policy_premium_positive"),
            models.CheckConstraint(condition=Q(coverage_amount__gt=0), name="policies_policy_coverage_positive"),
            models.CheckConstraint(condition=Q(end_date__gt=F("start_date")), name="valid_date_range"),
            models.CheckConstraint(condition=Q(policy_type__in=PolicyType.values), name="policies_policy_type_valid"),
            models.CheckConstraint(condition=Q(status__in=PolicyStatus.values), name="policies_policy_status_valid"),
            models.CheckConstraint(
                condition=Q(compliance_status__in=ComplianceStatus.values),
                name="policies_policy_compliance_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | Q(cancelled_at__isnull=False),
                name="policies_policy_cancelled_dated",
            ),
            models.CheckConstraint(
                condition=Q(policy_number__regex=r"^POL-[0-9A-F]{8}$"), name="policies_policy_number_format"
            ),
        ]
        indexes = [
            # The default order of every list (-created_at, -id), whole: the admin's page and the API's keyset
            # cursor walk it without sorting, even where many rows share one created_at.
            models.Index(fields=["created_at", "id"], name="policies_created_id_idx"),
            models.Index(fields=["customer", "status"], name="policies_customer_status_idx"),
            models.Index(fields=["policy_type", "start_date", "end_date"], name="policies_type_dates_idx"),
            models.Index(fields=["compliance_status", "last_audit_date"], name="policies_compliance_idx"),
            # A status filter in the default order (-created_at, -id): "expired" are the oldest rows, which a walk
            # of the created_at index would reach only after every newer policy.
            models.Index(fields=["status", "created_at", "id"], name="policies_status_created_idx"),
            models.Index(fields=["status", "end_date"], name="policies_status_end_idx"),
        ]

    def __str__(self) -> str:
        return self.policy_number


class PolicyEventKind(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    ISSUED = "issued", "Issued"
    SUSPENDED = "suspended", "Suspended"
    REINSTATED = "reinstated", "Reinstated"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    RENEWED = "renewed", "Renewed"
    AUDITED = "audited", "Compliance audit recorded"
    FLAGGED = "flagged", "Flagged for review"


class PolicyEvent(DomainEvent):
    """Why a policy changed and who did it (auditlog records what changed)."""

    Kind = PolicyEventKind

    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=PolicyEventKind.choices)

    class Meta(DomainEvent.Meta):
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=PolicyEventKind.values), name="policies_policyevent_kind_valid"
            ),
        ]
        indexes = [models.Index(fields=["policy", "created_at"], name="policies_event_policy_idx")]
