"""Log formatting: plain text in development, one JSON object per line in production.

Both formatters pass their output through :func:`redact`, a last line of defence for values that must never be logged
(SPEC §6): e-mail addresses, bearer tokens and JWTs, credentials inside URLs, ``password=``/``token=`` pairs and
national-id-like numbers. Code should not log such values in the first place (the access log writes the route
pattern, never the query string or body; task logs name ids); an exception message quoting a database row (an
``IntegrityError``'s ``Key (email)=(...)``, say) is the case this catches.
"""

from __future__ import annotations

import logging
import re

import orjson
from django.http import HttpRequest

from vanguard.core.request_context import request_id_var, user_id_var

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "request_id"}

REDACTED = "[redacted]"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # scheme://user:password@host -> keep scheme and host
    (re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^\s/@:]*:[^\s/@]*@", re.I), rf"\g<scheme>{REDACTED}@"),
    (re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]+", re.I), f"Bearer {REDACTED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),  # JWT
    (
        re.compile(
            r"(?P<key>\b(?:password|passwd|pwd|secret|token|api[_-]?key|access|refresh)\b[\"']?\s*[=:]\s*)"
            r"[\"']?[^\s\"',;&]+",
            re.I,
        ),
        rf"\g<key>{REDACTED}",
    ),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), REDACTED),  # e-mail address
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), REDACTED),  # SSN-shaped
    (re.compile(r"\+\d{8,15}\b"), REDACTED),  # E.164 phone number
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RequestIdFilter(logging.Filter):
    """Stamp every record with the current request (or task) id and, when known, the user id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        if not hasattr(record, "user_id"):
            record.user_id = user_id_var.get()
        return True


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get() or "-"
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                if isinstance(value, HttpRequest):
                    # django.request attaches the request to its 4xx/5xx records; its repr is the full path with
                    # the query string (?email=…, ?q=<national id>), which must never reach a log line.
                    value = f"{value.method} {value.path}"
                payload[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            payload["exc"] = redact(record.exc_text)
        return orjson.dumps(payload, default=lambda value: redact(str(value))).decode()
