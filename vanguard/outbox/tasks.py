from __future__ import annotations

from celery import shared_task

from vanguard.accounts.system import RETRY
from vanguard.outbox.services import outbox_drain


@shared_task(**RETRY)
def drain_outbox() -> int:
    """Beat, every OUTBOX_DRAIN_SECONDS: run the due outbox rows (vanguard/outbox/__init__.py). Idempotent: a row
    runs and is deleted in one transaction; a second drain finds nothing."""
    return outbox_drain()
