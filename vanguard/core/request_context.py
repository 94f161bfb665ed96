"""The current request id, kept in a ContextVar so logs, audit rows and Celery tasks can carry it."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id_var: ContextVar[str | None] = ContextVar("user_id", default=None)

_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def clean_request_id(value: str | None) -> str:
    """Accept a caller's X-Request-ID only when it is short and harmless; otherwise mint one."""
    if value and _VALID.match(value):
        return value
    return uuid.uuid4().hex


def get_request_id(request=None) -> str | None:
    """auditlog's CID getter: the id of the request (or task) being served."""
    return request_id_var.get()
