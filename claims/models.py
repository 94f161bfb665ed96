"""Claims (SPEC §2.4), their documents (§2.5) and domain events (§2.6)."""

from __future__ import annotations

import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from vanguard.models import DomainEvent


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
    policy = models.ForeignKey("policies.Policy", on_delete=models.PROTECT, related_name="claims")
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
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="assigned_claims"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
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
            models.CheckConstraint(
                condition=Q(claim_type__in=ClaimType.values), name="claims_claim_type_valid"
            ),
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
        ]
        indexes = [
            # The default order of every list (-created_at, -id), whole: the admin's page and the API's keyset
            # cursor walk it without sorting, even where many rows share one created_at.
            models.Index(fields=["created_at", "id"], name="claims_created_id_idx"),
            models.Index(fields=["policy", "status"], name="claims_policy_status_idx"),
            # A status filter in the default order (-created_at, -id), e.g. the oldest open claims.
            models.Index(fields=["status", "created_at", "id"], name="claims_status_created_idx"),
            models.Index(fields=["incident_date"], name="claims_incident_date_idx"),
            models.Index(fields=["assigned_to", "status"], name="claims_assignee_status_idx"),
        ]

    def __str__(self) -> str:
        return self.claim_number


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


class ClaimEvent(DomainEvent):
    """Why a claim changed and who did it."""

    Kind = ClaimEventKind

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=ClaimEventKind.choices)

    class Meta(DomainEvent.Meta):
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ClaimEventKind.values), name="claims_claimevent_kind_valid"),
        ]
        indexes = [models.Index(fields=["claim", "created_at"], name="claims_event_claim_idx")]
