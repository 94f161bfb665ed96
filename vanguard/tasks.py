"""Helpers for jobs and commands: the system actor set once at the edge, with a correlation id."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from auditlog.context import set_extra_data

from vanguard.request_context import request_id_var


def command_cid(name: str) -> str:
    """The correlation id of one run of an operator command."""
    return f"cmd-{name}-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def as_system(cid: str | None = None) -> Iterator:
    """Run a block as the named system actor: audit rows get the actor and a correlation id."""
    from vanguard.accounts.models import system_actor

    actor = system_actor()
    token = request_id_var.set(cid or request_id_var.get() or f"job-{uuid.uuid4().hex[:16]}")
    try:
        with set_extra_data(context_data={"actor": actor, "remote_addr": None}):
            yield actor
    finally:
        request_id_var.reset(token)
