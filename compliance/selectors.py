"""Compliance reads shared by the readiness probe and the admin."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from compliance.chain import seal_bound
from compliance.models import AuditEntry, AuditVerification

# The verification runs daily (SPEC §5); a result older than this means the job stopped running.
VERIFICATION_OVERDUE_AFTER = dt.timedelta(hours=36)


def audit_chain_status(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """The last audit-chain verification as a readiness note: ``ok`` is True (intact), False (broken: the
    job logged the break at ERROR), or None (never verified, or overdue). One indexed query. The detail
    names no entry: the probe is unauthenticated, the break is in the log and in the admin.
    An audit entry left unsealed beyond the bound (the sealer is not running) is noted as broken at once,
    without waiting for the daily verification; one more query, on the partial index of unsealed entries."""
    now = now or timezone.now()
    last = (AuditVerification.objects.order_by("-created_at", "-id")
            .only("ok", "entries", "breaks", "created_at").first())
    if AuditEntry.objects.filter(seq__isnull=True, timestamp__lt=now - seal_bound()).order_by().exists():
        return {"ok": False, "verified_at": last.created_at.isoformat() if last else None,
                "detail": ("BROKEN: audit entries are not being sealed within the bound (the sealer stopped, or it "
                           "refused altered entries: run manage.py verify_audit_chain)")}
    if last is None:
        return {"ok": None, "verified_at": None, "detail": "not verified yet (run manage.py verify_audit_chain)"}
    verified_at = last.created_at.isoformat()
    if not last.ok:
        return {"ok": False, "verified_at": verified_at,
                "detail": f"BROKEN: {last.breaks} break(s) found in {last.entries} entries at the last verification"}
    if now - last.created_at > VERIFICATION_OVERDUE_AFTER:
        return {"ok": None, "verified_at": verified_at,
                "detail": "overdue: the last verification (intact) is more than 36 hours old"}
    return {"ok": True, "verified_at": verified_at, "detail": f"intact: {last.entries} entries"}
