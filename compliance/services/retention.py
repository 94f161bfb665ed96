"""Data retention (SPEC §7.2): customers past their retention date are erased by the nightly job."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING
from uuid import UUID

from django.db.models import QuerySet
from django.utils import timezone

from compliance.services.erasure import HOLDING_CLAIM_STATUSES, HOLDING_POLICY_STATUSES, customer_erase
from customers.models import Customer
from vanguard.core.errors import Conflict

if TYPE_CHECKING:
    from vanguard.accounts.models import User

logger = logging.getLogger(__name__)


def customers_due_for_erasure(*, now: dt.datetime | None = None) -> QuerySet[Customer]:
    """Customers past their retention date, not yet erased, with no live policy and no open claim."""
    now = now or timezone.now()
    return (
        Customer.objects.filter(data_retention_date__lt=now, erased_at__isnull=True)
        .exclude(policies__status__in=HOLDING_POLICY_STATUSES)
        .exclude(policies__claims__status__in=HOLDING_CLAIM_STATUSES)
    )


def customers_enforce_retention(*, actor: User, now: dt.datetime | None = None, batch_size: int = 200) -> int:
    """Erase every customer due under the retention rule, one transaction per customer. A customer who
    gained a hold meanwhile is skipped (the service re-checks under lock). Returns how many were erased."""
    erased = 0
    skipped: set[UUID] = set()
    while True:
        ids = list(
            customers_due_for_erasure(now=now)
            .exclude(pk__in=skipped)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return erased
        for customer_id in ids:
            try:
                customer_erase(
                    actor=actor, customer_id=customer_id, interface="task", reason="Data retention period ended"
                )
                erased += 1
            except Conflict as exc:
                logger.info("retention erasure skipped: %s", exc.message, extra={"customer_id": str(customer_id)})
                skipped.add(customer_id)
