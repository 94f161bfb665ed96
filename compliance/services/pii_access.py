"""The PII access log (SPEC §7.3): who saw which of a customer's personal data in clear, when and through what."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from compliance.models import PIIAccessLog
from vanguard.core.request_context import request_id_var

if TYPE_CHECKING:
    from vanguard.accounts.models import User

INTERFACES = frozenset(PIIAccessLog.Interface.values)


def _check_interface(interface: str) -> str:
    # Shared by the export and the erasure, which record the interface that asked for them.
    if interface not in INTERFACES:
        raise ValueError(f"Unknown interface {interface!r}; expected one of {sorted(INTERFACES)}")
    return interface


def _context_remote_addr() -> str | None:
    # auditlog's context variable (docs/architecture.md, internals table): the address the middleware or the
    # JWT authentication recorded for this request.
    from auditlog.context import auditlog_value

    try:
        return auditlog_value.get().get("remote_addr")
    except LookupError:
        return None


def pii_access_record(
    *, actor: User, customer_id: UUID, fields: list[str], interface: str, remote_addr: str | None = None
) -> None:
    """Record that `actor` saw `fields` of a customer in clear (SPEC §7.3): one PIIAccessLog row with
    the request id of the current request or job. Writes nothing when no field was shown in clear."""
    _check_interface(interface)
    if not fields:
        return
    PIIAccessLog.objects.create(
        actor=actor,
        customer_id=customer_id,
        fields=sorted(set(fields)),
        interface=interface,
        remote_addr=remote_addr or _context_remote_addr(),
        request_id=(request_id_var.get() or "")[:64],
    )
