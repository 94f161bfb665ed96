"""Staff password rules of SPEC §6 beyond Django's built-in validators."""

from __future__ import annotations

import re

from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError

SPECIALS = "!@#$%^&*"
HISTORY_DEPTH = 5


class CharacterClassValidator:
    """Upper case, lower case, a digit and one of !@#$%^&*."""

    def validate(self, password: str, user=None) -> None:
        missing = []
        if not re.search(r"[A-Z]", password):
            missing.append("an upper-case letter")
        if not re.search(r"[a-z]", password):
            missing.append("a lower-case letter")
        if not re.search(r"\d", password):
            missing.append("a digit")
        if not any(ch in SPECIALS for ch in password):
            missing.append(f"one of {SPECIALS}")
        if missing:
            raise ValidationError(
                "The password must contain " + ", ".join(missing) + ".", code="password_character_classes"
            )

    def get_help_text(self) -> str:
        return f"Your password must contain upper- and lower-case letters, a digit and one of {SPECIALS}."


class PasswordHistoryValidator:
    """Refuse any of the user's last five passwords (the current one included)."""

    def validate(self, password: str, user=None) -> None:
        if user is None or user.pk is None or user._state.adding:
            return
        from vanguard.accounts.models import PasswordHistory

        previous = list(
            PasswordHistory.objects.filter(user_id=user.pk)
            .order_by("-created_at", "-pk")
            .values_list("password", flat=True)[:HISTORY_DEPTH]
        )
        current = type(user).objects.filter(pk=user.pk).values_list("password", flat=True).first()
        if current:
            previous.append(current)
        if any(check_password(password, encoded) for encoded in previous):
            raise ValidationError(
                f"The password must differ from your last {HISTORY_DEPTH} passwords.", code="password_reused"
            )

    def password_changed(self, password: str, user=None) -> None:
        """Remember the new hash once it is saved. ``AbstractBaseUser.save()`` calls this (through
        ``password_validation.password_changed``) after every ``set_password``, whichever path set it: admin forms,
        ``changepassword``, ``createsuperuser``, services. An unusable password is not a password: not recorded."""
        if user is None or user.pk is None or not user.has_usable_password():
            return
        from vanguard.accounts.models import PasswordHistory

        PasswordHistory.objects.create(user_id=user.pk, password=user.password)
        stale = (
            PasswordHistory.objects.filter(user_id=user.pk)
            .order_by("-created_at", "-pk")
            .values_list("pk", flat=True)[HISTORY_DEPTH:]
        )
        PasswordHistory.objects.filter(pk__in=list(stale)).delete()

    def get_help_text(self) -> str:
        return f"Your password cannot be one of your last {HISTORY_DEPTH} passwords."
