"""Domain errors. Interfaces map them once: the API to RFC 7807 (status below), the admin to messages."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.core.exceptions import ValidationError

from vanguard.core.money import format_money


class DomainError(Exception):
    """A refused operation, with a message fit for staff and API clients (never PII)."""

    status_code = 400
    code = "BUSINESS_RULE"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class BusinessRuleViolation(DomainError):
    """A well-formed request that breaks a business rule (consent, premium, coverage, term...): 400."""


class InvalidInput(DomainError):
    """A value that fails validation (format, range, future date): 422."""

    status_code = 422
    code = "VALIDATION_ERROR"


class Conflict(DomainError):
    """A state conflict: duplicate, erased record, legal hold: 409."""

    status_code = 409
    code = "CONFLICT"


class TransitionNotAllowed(Conflict):
    """The record's current status does not allow this transition: 409."""

    @classmethod
    def for_status(cls, status_label: str, noun: str, verb: str) -> TransitionNotAllowed:
        """'An approved claim cannot be denied.' from ("Approved", "claim", "denied")."""
        phrase = f"{status_label.lower()} {noun}"
        article = "An" if phrase[0] in "aeiou" else "A"
        return cls(f"{article} {phrase} cannot be {verb}.")


class AuthorityExceeded(DomainError):
    """Approval above the actor's authority limit: 403, naming the limit."""

    status_code = 403
    code = "FORBIDDEN"

    def __init__(self, *, limit: Decimal, amount: Decimal):
        super().__init__(f"Approval of {format_money(amount)} exceeds your authority limit of {format_money(limit)}.")
        self.limit = limit
        self.amount = amount


class NotPermitted(DomainError):
    """The actor lacks the permission a service requires: 403."""

    status_code = 403
    code = "FORBIDDEN"


def validate_all(*checks: Callable[[], None]) -> None:
    """Run every check and raise one ValidationError holding all their field errors, so a form (and an API
    client) hears of every invalid field at once rather than one per attempt."""
    errors: dict = {}
    for check in checks:
        try:
            check()
        except ValidationError as exc:
            exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)
