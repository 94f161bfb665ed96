from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    """One task to run after the transaction that wrote it committed (see vanguard/outbox/__init__.py).

    Holds a registered Celery task name and its keyword arguments: ids only, never personal data (the task reads
    the rows it needs when it runs). The row is deleted once the task has run; a row that stays is pending or
    failing (`attempts`, `last_error`), so the table is small and its size is the backlog.
    """

    id = models.BigAutoField(primary_key=True)
    task = models.CharField(max_length=200)
    kwargs = models.JSONField(default=dict, blank=True)
    # The request (or job) that wrote the row: the task's logs and audit rows carry it, as a message header would.
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    available_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    # The exception's type only: messages can quote row data.
    last_error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["available_at", "id"]
        # The drain's scan: due rows, oldest first.
        indexes = [models.Index(fields=["available_at", "id"], name="outbox_due_idx")]
        verbose_name = "outbox message"

    def __str__(self) -> str:
        return f"{self.task} #{self.pk}"
