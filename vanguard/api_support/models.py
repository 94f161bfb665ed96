"""Rows the API layer keeps: idempotent replays and the login-attempt log for compliance officers."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IdempotencyRecord(models.Model):
    """The first response to a creating POST sent with an `Idempotency-Key` (kept 24 hours).

    Keys are scoped per user, so two callers choosing the same key never see each other's response.
    Only the created record's id and the status are kept: a replay renders the record again for the caller
    (the body would hold personal data in clear). `status_code` is 0 while the first request is running.
    """

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    route = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    resource_id = models.UUIDField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="api_support_idempotency_user_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.route} {self.key}"


class LoginAttempt(models.Model):
    """A failed or locked-out sign-in (admin or API), for compliance officers (SPEC §6), and each lockout that
    staff lifted early (outcome "lifted", with who lifted it: vanguard.accounts.lockout.lockout_lift).

    The attempted account name is stored as typed (lower-cased): it is the subject of the lockout. The
    password is never stored.
    """

    class Outcome(models.TextChoices):
        FAILED = "failed", "Failed"
        LOCKED_OUT = "locked_out", "Refused: locked out"
        LIFTED = "lifted", "Lockout lifted by staff"

    class Interface(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"

    id = models.BigAutoField(primary_key=True)
    username = models.CharField("account name", max_length=254, db_index=True)
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    interface = models.CharField(max_length=8, choices=Interface.choices)
    locked_by = models.CharField(max_length=16, blank=True, default="", help_text="account or ip")
    request_id = models.CharField("request ID", max_length=64, blank=True, default="")
    # Who lifted the lockout (outcome "lifted" only). Staff users are deactivated, never deleted.
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    user_agent = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("lift_lockout", "Can lift a sign-in lockout before it expires")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome__in=["failed", "locked_out", "lifted"]),
                name="api_support_loginattempt_outcome_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(outcome="lifted") | models.Q(lifted_by__isnull=True),
                name="api_support_loginattempt_lifted_by_only_on_lift",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()}: {self.username}"
