from __future__ import annotations

from celery import shared_task
from django.core.management import call_command

from vanguard.accounts.system import RETRY


@shared_task(**RETRY)
def flush_expired_tokens() -> None:
    """Drop expired outstanding and blacklisted JWTs (simplejwt's own cleanup)."""
    call_command("flushexpiredtokens")
