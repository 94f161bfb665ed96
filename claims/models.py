"""Claims (SPEC §2.4), their documents (§2.5) and domain events (§2.6)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone
from django_cryptography.fields import encrypt

from vanguard.core.events import DomainEvent
from vanguard.core.money import Cents

ZERO = Decimal("0.00")
# Every money column of §10: Decimal(15, 2). The most it can hold, which the services refuse to exceed.
MONEY_MAX_DIGITS, MONEY_PLACES = 15, 2
MONEY_MAX = Decimal("9999999999999.99")


def money_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_PLACES, **kwargs)


def _total(label: str) -> models.DecimalField:
    # Stored for fast lists, kept by claims.financials.services, recomputed by verify_claim_financials.
    return money_field(verbose_name=label, default=ZERO, editable=False)


class ClaimQuerySet(models.QuerySet):
    def lock_for_update(self):
        return self.select_for_update(no_key=True, of=("self",))

    def open(self):
        return self.filter(status__in=Claim.OPEN_STATUSES)


class ClaimType(models.TextChoices):
    ACCIDENT = "accident", "Accident"
    THEFT = "theft", "Theft"
    DAMAGE = "damage", "Damage"
    MEDICAL = "medical", "Medical"
    FIRE = "fire", "Fire"
    FLOOD = "flood", "Flood"


class ClaimStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    PAID = "paid", "Paid"
    CLOSED = "closed", "Closed"


class Claim(models.Model):
    ClaimType = ClaimType

    Status = ClaimStatus

    OPEN_STATUSES = frozenset({ClaimStatus.PENDING, ClaimStatus.PROCESSING, ClaimStatus.APPROVED})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    claim_number = models.CharField(max_length=12, unique=True, editable=False)
    # No index of its own, here or on `assigned_to`: claims_policy_status_idx and claims_assignee_status_idx lead
    # with them, and a claim's insert writes every index it has.
    policy = models.ForeignKey("policies.Policy", on_delete=models.PROTECT, related_name="claims", db_index=False)
    # The policy's customer, kept with the claim (set on save; the database's claims_claim_policy_customer_fk
    # refuses any other value): a search or a filter by customer walks one index of claims in the list's order
    # instead of joining every claim to its policy and customer until a page is full.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="claims", editable=False, db_index=False
    )
    claim_type = models.CharField(max_length=16, choices=ClaimType.choices)
    claim_amount = models.DecimalField(max_digits=15, decimal_places=2)
    description = models.TextField(blank=True, default="", max_length=5000)
    incident_date = models.DateTimeField()
    reported_date = models.DateTimeField()
    status = models.CharField(max_length=16, choices=ClaimStatus.choices, default=ClaimStatus.PENDING)
    approved_amount = models.DecimalField(max_digits=15, decimal_places=2, null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="", max_length=2000)
    processed_date = models.DateTimeField(null=True, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_claims",
        db_index=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The claim's money (SPEC §10.2), always what its reserve changes, payments and recoveries say.
    reserve_indemnity = _total("indemnity reserve")
    reserve_expense = _total("expense reserve")
    paid_indemnity = _total("indemnity paid")
    paid_expense = _total("expense paid")
    recovered = _total("recovered")
    gross_incurred = _total("gross incurred")
    net_incurred = _total("net incurred")
    created_at = models.DateTimeField(auto_now_add=True)  # indexed with id: Meta.indexes
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClaimQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("process_claim", "Can start processing a claim"),
            ("decide_claim", "Can approve or deny a claim (up to the authority limit), mark paid and close"),
            ("assign_claim", "Can assign claims to staff"),
            ("reopen_claim", "Can reopen a denied or closed claim"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(claim_amount__gt=0), name="claims_claim_amount_positive"),
            models.CheckConstraint(
                condition=Q(approved_amount__isnull=True)
                | (Q(approved_amount__gt=0) & Q(approved_amount__lte=F("claim_amount"))),
                name="claims_claim_approved_within_amount",
            ),
            models.CheckConstraint(condition=Q(claim_type__in=ClaimType.values), name="claims_claim_type_valid"),
            models.CheckConstraint(condition=Q(status__in=ClaimStatus.values), name="claims_claim_status_valid"),
            models.CheckConstraint(
                condition=~Q(status__in=["approved", "paid"]) | Q(approved_amount__isnull=False),
                name="claims_claim_approved_has_amount",
            ),
            models.CheckConstraint(
                condition=~Q(status="denied") | ~Q(decision_reason=""), name="claims_claim_denied_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(claim_number__regex=r"^CLM-[0-9A-F]{8}$"), name="claims_claim_number_format"
            ),
            models.CheckConstraint(
                condition=Q(
                    reserve_indemnity__gte=0,
                    reserve_expense__gte=0,
                    paid_indemnity__gte=0,
                    paid_expense__gte=0,
                    recovered__gte=0,
                ),
                name="claims_claim_totals_not_negative",
            ),
            # The derived totals cannot disagree with the ones they are derived from, whoever writes the row.
            models.CheckConstraint(
                condition=Q(
                    gross_incurred=Cents(
                        F("reserve_indemnity") + F("reserve_expense") + F("paid_indemnity") + F("paid_expense")
                    )
                ),
                name="claims_claim_gross_incurred_sum",
            ),
            models.CheckConstraint(
                condition=Q(net_incurred=Cents(F("gross_incurred") - F("recovered"))),
                name="claims_claim_net_incurred_sum",
            ),
        ]
        indexes = [
            # The default order of every list (-created_at, -id), whole: the admin's page and the API's keyset
            # cursor walk it without sorting, even where many rows share one created_at.
            models.Index(fields=["created_at", "id"], name="claims_created_id_idx"),
            models.Index(fields=["policy", "status"], name="claims_policy_status_idx"),
            # A customer's claims in the default order: the admin's search by customer name and e-mail (and the
            # index of the customer foreign key, hence db_index=False on it).
            models.Index(fields=["customer", "created_at", "id"], name="claims_customer_created_idx"),
            # A status filter in the default order (-created_at, -id), e.g. the oldest open claims.
            models.Index(fields=["status", "created_at", "id"], name="claims_status_created_idx"),
            models.Index(fields=["incident_date"], name="claims_incident_date_idx"),
            models.Index(fields=["assigned_to", "status"], name="claims_assignee_status_idx"),
        ]

    def __str__(self) -> str:
        return self.claim_number

    def save(self, *args, **kwargs) -> None:
        if self.customer_id is None and self.policy_id is not None:
            self.customer_id = self.policy.customer_id  # no query where the policy is loaded (claim_create)
        super().save(*args, **kwargs)


def document_upload_to(instance: ClaimDocument, filename: str) -> str:
    """claims/<claim_id>/<uuid><ext>: the stored name never carries the client's file name."""
    ext = PurePath(filename).suffix.lower()[:10]
    return f"claims/{instance.claim_id}/{uuid.uuid4().hex}{ext}"


# The most a stored document may weigh: the database refuses more (claims_document_size_range). Uploads are checked
# against settings.DOCUMENT_MAX_BYTES, which may lower this but not raise it (claims.checks refuses a higher value
# at start-up, and claims.documents.inspect_upload never accepts more); raising it is a migration.
DOCUMENT_SIZE_CEILING = 10 * 1024 * 1024


class DocumentType(models.TextChoices):
    PHOTO = "photo", "Photo"
    POLICE_REPORT = "police_report", "Police report"
    INVOICE = "invoice", "Invoice"
    MEDICAL_RECORD = "medical_record", "Medical record"
    ESTIMATE = "estimate", "Estimate"
    OTHER = "other", "Other"


class ClaimDocument(models.Model):
    DocumentType = DocumentType

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="documents")
    filename = models.CharField("file name", max_length=255)
    file = models.FileField(upload_to=document_upload_to, max_length=255)
    mime_type = models.CharField("file type (MIME)", max_length=100)
    file_size = models.PositiveIntegerField("file size (bytes)")
    sha256 = models.CharField("SHA-256 checksum", max_length=64)
    document_type = models.CharField(max_length=20, choices=DocumentType.choices, default=DocumentType.OTHER)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(file_size__gt=0) & Q(file_size__lte=DOCUMENT_SIZE_CEILING),
                name="claims_document_size_range",
            ),
            models.CheckConstraint(
                condition=Q(document_type__in=DocumentType.values), name="claims_document_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.filename


class ClaimEventKind(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    STATUS_CHANGED = "status_changed", "Status changed"
    ASSIGNED = "assigned", "Assigned"
    DOCUMENT_ADDED = "document_added", "Document added"
    RESERVE_SET = "reserve_set", "Reserve set"
    PAYMENT_REQUESTED = "payment_requested", "Payment requested"
    PAYMENT_APPROVED = "payment_approved", "Payment approved"
    PAYMENT_ISSUED = "payment_issued", "Payment issued"
    PAYMENT_CANCELLED = "payment_cancelled", "Payment cancelled"
    PAYMENT_VOIDED = "payment_voided", "Payment voided"
    RECOVERY_RECORDED = "recovery_recorded", "Recovery recorded"


class ClaimEvent(DomainEvent):
    """Why a claim changed and who did it."""

    Kind = ClaimEventKind

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="events", db_index=False)  # event_claim_idx
    kind = models.CharField(max_length=20, choices=ClaimEventKind.choices)

    class Meta(DomainEvent.Meta):
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ClaimEventKind.values), name="claims_claimevent_kind_valid"),
        ]
        indexes = [models.Index(fields=["claim", "created_at"], name="claims_event_claim_idx")]


# --- claims financials (SPEC §10) ---------------------------------------------------------------------------
# Every figure is derived from these rows, which are never edited or deleted (a mistake is corrected by a new
# row: a reserve change, a void). The services (claims.financials.services) write them under the claim's lock.


class CostType(models.TextChoices):
    INDEMNITY = "indemnity", "Indemnity"
    EXPENSE = "expense", "Expense"


class PaymentMethod(models.TextChoices):
    BANK_TRANSFER = "bank_transfer", "Bank transfer"
    CHEQUE = "cheque", "Cheque"


class PaymentStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    ISSUED = "issued", "Issued"
    CANCELLED = "cancelled", "Cancelled"
    VOIDED = "voided", "Voided"


class RecoveryKind(models.TextChoices):
    SALVAGE = "salvage", "Salvage"
    SUBROGATION = "subrogation", "Subrogation"
    OTHER = "other", "Other"


class ReserveChange(models.Model):
    """A claim's outstanding reserve of one cost type is the `new_amount` of its latest change."""

    CostType = CostType

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    claim = models.ForeignKey(  # indexed by claims_reserve_claim_idx, which leads with it
        Claim, on_delete=models.PROTECT, related_name="reserve_changes", db_index=False
    )
    cost_type = models.CharField(max_length=16, choices=CostType.choices)
    previous_amount = money_field()
    new_amount = money_field()
    reason = models.TextField(max_length=2000)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The database's clock, not the app server's: the claim's changes are written one after the other under its
    # lock, so the latest by created_at is the last one written even when the servers' clocks disagree.
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ("add", "view")
        constraints = [
            # 0 closes a reserve; nothing below it.
            models.CheckConstraint(
                condition=Q(new_amount__gte=0) & Q(previous_amount__gte=0),
                name="claims_reservechange_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(cost_type__in=CostType.values), name="claims_reservechange_cost_type_valid"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="claims_reservechange_has_reason"),
        ]
        indexes = [
            models.Index(fields=["claim", "created_at", "id"], name="claims_reserve_claim_idx"),
            models.Index(fields=["created_at", "id"], name="claims_reserve_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_cost_type_display()} reserve {self.previous_amount} → {self.new_amount}"


# The statuses in which a payment still holds part of its reserve (and of the approved amount): not yet issued.
PAYMENT_UNISSUED = frozenset({PaymentStatus.REQUESTED, PaymentStatus.APPROVED})


class ClaimPayment(models.Model):
    """Money paid out on a claim, under four-eyes control: requested → approved → issued; requested|approved →
    cancelled; issued → voided. The payee's account is encrypted like the customers' PII."""

    CostType = CostType
    Method = PaymentMethod
    Status = PaymentStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment_number = models.CharField(max_length=12, unique=True, editable=False)
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="payments")
    cost_type = models.CharField(max_length=16, choices=CostType.choices)
    amount = money_field()
    payee_name = models.CharField(max_length=200)
    payee_account = encrypt(
        models.CharField(
            max_length=64,
            blank=True,
            default="",
            help_text="IBAN or account number; stored encrypted.",
        )
    )
    payee_is_policyholder = models.BooleanField("payee is the policyholder", default=False)
    method = models.CharField(max_length=16, choices=PaymentMethod.choices)
    reference = models.CharField(max_length=100, blank=True, default="")
    status = models.CharField(max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.REQUESTED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    issued_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True, default="", max_length=2000)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True, default="", max_length=2000)
    # Which key generation encrypted payee_account (compliance's key rotation resumes by it).
    encryption_key_id = models.CharField("encryption key", max_length=32, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ("add", "view")
        permissions = [
            ("approve_payment", "Can approve a payment requested by someone else (up to the authority limit)"),
            ("issue_payment", "Can issue an approved payment"),
            ("cancel_payment", "Can cancel a payment not yet issued"),
            ("void_payment", "Can void an issued payment"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="claims_payment_amount_positive"),
            models.CheckConstraint(condition=Q(cost_type__in=CostType.values), name="claims_payment_cost_type_valid"),
            models.CheckConstraint(condition=Q(method__in=PaymentMethod.values), name="claims_payment_method_valid"),
            models.CheckConstraint(condition=Q(status__in=PaymentStatus.values), name="claims_payment_status_valid"),
            models.CheckConstraint(
                condition=Q(payment_number__regex=r"^PAY-[0-9A-F]{8}$"), name="claims_payment_number_format"
            ),
            models.CheckConstraint(condition=~Q(payee_name=""), name="claims_payment_has_payee"),
            # Each status carries the stamps of the steps that led to it.
            models.CheckConstraint(
                condition=~Q(status__in=["approved", "issued", "voided"]) | Q(approved_at__isnull=False),
                name="claims_payment_approved_dated",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["issued", "voided"]) | Q(issued_at__isnull=False),
                name="claims_payment_issued_dated",
            ),
            models.CheckConstraint(
                condition=~Q(status="voided") | (Q(voided_at__isnull=False) & ~Q(void_reason="")),
                name="claims_payment_voided_with_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | (Q(cancelled_at__isnull=False) & ~Q(cancel_reason="")),
                name="claims_payment_cancelled_with_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="claims_payment_created_idx"),
            # The Payments list by status in its default order (awaiting approval: status=requested).
            models.Index(fields=["status", "created_at", "id"], name="claims_payment_status_idx"),
            models.Index(fields=["claim", "created_at", "id"], name="claims_payment_claim_idx"),
        ]

    def __str__(self) -> str:
        return self.payment_number


class ClaimRecovery(models.Model):
    """Money that came back on a claim (salvage, subrogation): lowers its net incurred."""

    Kind = RecoveryKind

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="recoveries")
    kind = models.CharField(max_length=16, choices=RecoveryKind.choices)
    amount = money_field()
    source = models.CharField("paid back by", max_length=200)
    reference = models.CharField(max_length=100, blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ("add", "view")
        verbose_name_plural = "claim recoveries"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="claims_recovery_amount_positive"),
            models.CheckConstraint(condition=Q(kind__in=RecoveryKind.values), name="claims_recovery_kind_valid"),
            models.CheckConstraint(condition=~Q(source=""), name="claims_recovery_has_source"),
        ]
        indexes = [
            models.Index(fields=["claim", "created_at", "id"], name="claims_recovery_claim_idx"),
            models.Index(fields=["created_at", "id"], name="claims_recovery_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount}"


class FinancialsVerification(models.Model):
    """One run of verify_claim_financials (the daily job or the command): /health/ready notes the last one.
    Holds counts and the first mismatch's claim number and field, never personal data."""

    id = models.BigAutoField(primary_key=True)
    ok = models.BooleanField()
    claims = models.BigIntegerField("claims checked")
    mismatches = models.PositiveIntegerField(default=0)
    first_mismatch = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ("view",)
        get_latest_by = "created_at"
        constraints = [
            models.CheckConstraint(
                condition=Q(ok=True, mismatches=0) | Q(ok=False, mismatches__gt=0),
                name="claims_financialsverification_ok_means_none",
            ),
        ]

    def __str__(self) -> str:
        return f"{'consistent' if self.ok else 'MISMATCHED'} at {self.created_at:%Y-%m-%d %H:%M}"
