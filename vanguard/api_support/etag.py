"""ETag / If-Match for optimistic concurrency on PATCH (SPEC §3): a stale tag is a 412."""

from __future__ import annotations

import datetime as dt
import hashlib
from uuid import UUID

from vanguard.core.errors import DomainError


class PreconditionFailed(DomainError):
    status_code = 412
    code = "PRECONDITION_FAILED"


def etag_for(pk: UUID | str, updated_at: dt.datetime) -> str:
    """A strong tag of the record's version (its id and last change)."""
    digest = hashlib.sha256(f"{pk}:{updated_at.isoformat()}".encode()).hexdigest()[:32]
    return f'"{digest}"'


def check_if_match(header: str | None, current: str) -> None:
    """No header: no precondition. `*` or any listed tag equal to the current one: go ahead."""
    if header is None:
        return
    tags = [t.strip() for t in header.split(",") if t.strip()]
    if "*" in tags:
        return
    # Weak comparison would be wrong for If-Match (RFC 9110 §13.1.1): W/ tags never match.
    if current not in tags:
        raise PreconditionFailed(
            "The record was changed since you read it (stale If-Match). Reload it and apply your change again."
        )
