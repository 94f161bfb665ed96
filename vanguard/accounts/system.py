"""Helpers for jobs and commands: the system actor set once at the edge, with a correlation id."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from django.db import InterfaceError, OperationalError

from vanguard.core.request_context import request_id_var

# Failures worth another try (SPEC §5: transient errors retried with backoff, at most 3 times): the database
# going away, SMTP and network errors (smtplib's errors are OSErrors), timeouts.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError, OSError)
RETRY = {"autoretry_for": TRANSIENT_ERRORS, "retry_backoff": True, "retry_jitter": True, "max_retries": 3}


def command_cid(name: str) -> str:
    """The correlation id of one run of an operator command."""
    return f"cmd-{name}-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def as_system(cid: str | None = None) -> Iterator:
    """Run a block as the named system actor: audit rows get the actor and a correlation id."""
    from compliance.audit import audit_context
    from vanguard.accounts.models import system_actor

    actor = system_actor()
    token = request_id_var.set(cid or request_id_var.get() or f"job-{uuid.uuid4().hex[:16]}")
    try:
        with audit_context(actor=actor, remote_addr=None):
            yield actor
    finally:
        request_id_var.reset(token)
