"""The staff user: email is the login. Roles are Django groups (see roles.py)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from vanguard.core.emails import normalise_email


class UserQuerySet(models.QuerySet):
    def update(self, **kwargs) -> int:
        """`QuerySet.update` (and `bulk_update`, which runs it) sends no signal, so it drops the cached API
        principals of the rows it changes itself (vanguard.accounts.auth): a user deactivated this way is
        refused on their next request, like one deactivated through `save()`.

        The rows are listed first and the update is confined to them, so every changed row is one whose
        principal is dropped (a row that starts matching meanwhile is simply left out, as if it had
        changed just after the update)."""
        from vanguard.accounts.signals import forget_changed

        with transaction.atomic(using=self.db, savepoint=False):
            pks = list(self.values_list("pk", flat=True))
            count = super(UserQuerySet, self.filter(pk__in=pks)).update(**kwargs)
            forget_changed(pks)
        return count

    update.alters_data = True


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_queryset(self) -> UserQuerySet:
        return UserQuerySet(self.model, using=self._db)

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=normalise_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        if not extra["is_staff"] or not extra["is_superuser"]:
            raise ValueError("A superuser must have is_staff and is_superuser set")
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", max_length=254, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField("active", default=True)
    is_staff = models.BooleanField("staff status", default=True, help_text="Can sign in to the back office.")
    # Per-user override of the role's approval authority; empty means "the role's default".
    authority_limit = models.DecimalField(
        "approval authority limit",
        max_digits=15,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Approval authority for claims. Empty: the default of the user's role.",
    )
    # The named actor of scheduled jobs and commands: cannot sign in, holds no permissions of its own.
    is_system = models.BooleanField("system account", default=False, editable=False)
    date_joined = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    # full_name is optional (blank=True); requiring it here would make `createsuperuser --noinput` fail
    # with only DJANGO_SUPERUSER_EMAIL/PASSWORD set (SPEC §8).
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(authority_limit__isnull=True) | models.Q(authority_limit__gte=0),
                name="accounts_user_authority_limit_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalise_email(self.email)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class PasswordHistory(models.Model):
    """Hashes of a user's previous passwords, so the last five cannot be reused (SPEC §6)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "password history"

    def __str__(self) -> str:
        return f"password of {self.user_id} at {self.created_at:%Y-%m-%d}"


SYSTEM_ACTOR_EMAIL = "system@vanguard.invalid"


def system_actor() -> User:
    """The named system actor for scheduled jobs and commands (created on first use, never signs in)."""
    user, _ = User.objects.get_or_create(
        email=SYSTEM_ACTOR_EMAIL,
        defaults={"full_name": "Vanguard system", "is_staff": False, "is_active": False, "is_system": True},
    )
    return user
