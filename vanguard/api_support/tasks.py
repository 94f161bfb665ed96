from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from vanguard.accounts.system import RETRY
from vanguard.api_support import idempotency
from vanguard.api_support.models import IdempotencyRecord, LoginAttempt

logger = logging.getLogger(__name__)


@shared_task(**RETRY)
def prune_api_records() -> dict[str, int]:
    """Delete idempotency records past their 24-hour replay window and login attempts past
    LOGIN_ATTEMPT_RETENTION_DAYS. Neither is a business record (no audit trail); both only grow otherwise.
    Idempotent: a second run finds nothing to delete.
    """
    now = timezone.now()
    replays, _ = IdempotencyRecord.objects.filter(created_at__lt=now - idempotency.TTL).delete()
    attempts, _ = LoginAttempt.objects.filter(
        created_at__lt=now - dt.timedelta(days=settings.LOGIN_ATTEMPT_RETENTION_DAYS)
    ).delete()
    if replays or attempts:
        logger.info("pruned %d idempotency records and %d login attempts", replays, attempts)
    return {"idempotency_records": replays, "login_attempts": attempts}
