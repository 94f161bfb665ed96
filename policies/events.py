"""Domain-event writer for policies: why a policy changed and who did it."""

from __future__ import annotations

from typing import Any

from policies.models import Policy, PolicyEvent


def policy_event_record(
    *,
    policy: Policy,
    actor,
    kind: str,
    from_status: str = "",
    to_status: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> PolicyEvent:
    return PolicyEvent.objects.create(
        policy=policy,
        actor=actor,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=data or {},
    )
