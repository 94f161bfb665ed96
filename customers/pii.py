"""PII helpers: the SSN blind index and the masks shown to staff without clear-text permission."""

from __future__ import annotations

import hashlib
import hmac
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

REDACTED = "[redacted]"

# The national ids accepted (SPEC §2.2 "optional national id"): a US social security number, 123-45-6789 (dashes
# or spaces optional), and a UK National Insurance number, AB 12 34 56 C (spaces optional). Anything else — "12",
# a phone number, a name — is a typing error, refused before it is encrypted and indexed.
# ASCII only: without re.ASCII, \d takes any script's digits and IGNORECASE lets the Kelvin sign pass for a "K".
US_SSN = re.compile(r"^\d{3}([- ]?)\d{2}\1\d{4}$", re.ASCII)
UK_NINO = re.compile(r"^[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]$", re.IGNORECASE | re.ASCII)
# The same rule as one pattern for the API document (JSON Schema regexes have no back-references); "" is none.
NATIONAL_ID_PATTERN = (
    r"([0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}|[0-9]{9}"
    r"|[A-Za-z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-Da-d])?"
)
NATIONAL_ID_HELP = "A US social security number (123-45-6789) or a UK National Insurance number (AB 12 34 56 C)."
NATIONAL_ID_ERROR = (
    "Enter a valid national id: a US social security number (123-45-6789) or a UK National "
    "Insurance number (AB 12 34 56 C)."
)


def validate_not_future(value) -> None:
    """Model-field validator of Customer.date_of_birth (the services say the same, in the same words)."""
    if value and value > timezone.localdate():
        raise ValidationError("The date of birth cannot be in the future.", code="future_date")


def validate_national_id(value: str | None) -> None:
    """Model-field validator of Customer.ssn; the message never repeats the value (it is personal data)."""
    value = (value or "").strip()
    if value and not (US_SSN.match(value) or UK_NINO.match(value)):
        raise ValidationError(NATIONAL_ID_ERROR, code="invalid_national_id")


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
