"""PII helpers: the SSN blind index and the masks shown to staff without clear-text permission."""

from __future__ import annotations

import hashlib
import hmac
import re

from django.conf import settings

REDACTED = "[redacted]"


def normalise_ssn(value: str) -> str:
    """Digits and letters only, upper case: '123-45-6789' and '123 45 6789' hash alike."""
    return re.sub(r"[^0-9A-Za-z]", "", value or "").upper()


def ssn_hash(value: str | None) -> str:
    """HMAC-SHA256 blind index over the normalised SSN (key PII_HASH_KEY); '' for no SSN."""
    normalised = normalise_ssn(value or "")
    if not normalised:
        return ""
    return hmac.new(settings.PII_HASH_KEY.encode(), normalised.encode(), hashlib.sha256).hexdigest()


def ssn_last4(value: str | None) -> str | None:
    normalised = normalise_ssn(value or "")
    return normalised[-4:] if normalised else None


def mask_ssn(value: str | None) -> str:
    """'***-**-1234': only the last four characters survive."""
    last4 = ssn_last4(value)
    return f"***-**-{last4}" if last4 else ""


def mask_phone(value: str | None) -> str:
    """'+44 ****** 789': country prefix and last three digits."""
    if not value:
        return ""
    digits = value.lstrip("+")
    prefix = ("+" if value.startswith("+") else "") + digits[:2]
    return f"{prefix} ****** {digits[-3:]}"


def mask_text(value: object) -> str:
    return "••••••" if value not in (None, "") else ""


def audit_mask(value: object) -> str:
    """django-auditlog's mask callable: never keep any part of an encrypted value."""
    return REDACTED
