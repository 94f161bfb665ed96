"""Abstract models shared by the domain apps."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class DomainEvent(models.Model):
    """Why a record changed and who did it (auditlog records what changed). Subclasses add the record's
    foreign key and `kind` with their own choices and check constraint.

    Departures from SPEC §2's "UUID keys, created_at and updated_at on every model", on purpose: events are an
    append-only log, never updated (so no `updated_at`), written far more often than anything else and read in
    order per record, so a big-integer key is compact, ordered and never exposed as an identifier in the API.
    """

    id = models.BigAutoField(primary_key=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.from_status or '-'} → {self.to_status or '-'})"
