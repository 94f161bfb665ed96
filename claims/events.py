"""Domain-event writer for claims."""

from __future__ import annotations

from typing import Any

from claims.models import Claim, ClaimEvent


def claim_event_record(
    *,
    claim: Claim,
    actor,
    kind: str,
    from_status: str = "",
    to_status: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> ClaimEvent:
    return ClaimEvent.objects.create(
        claim=claim,
        actor=actor,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=data or {},
    )
