"""``createsuperuser`` with the staff password policy applied in ``--noinput`` mode too.

Django validates the password only when it prompts for it; ``DJANGO_SUPERUSER_PASSWORD`` is taken as given. This
command checks it against AUTH_PASSWORD_VALIDATORS first (SPEC §6: every way a password is set) and never echoes it.
The new user's audit entry names the system actor and a `cmd-…` correlation id, as every operator command's writes do.
"""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.contrib.auth.management.commands.createsuperuser import Command as DjangoCreateSuperuser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from vanguard.accounts.system import as_system, command_cid


class Command(DjangoCreateSuperuser):
    def handle(self, *args, **options):
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if not options["interactive"] and password is not None:
            user_model = get_user_model()
            email = options.get(user_model.USERNAME_FIELD) or os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
            full_name = options.get("full_name") or os.environ.get("DJANGO_SUPERUSER_FULL_NAME", "")
            try:
                validate_password(password, user_model(email=email, full_name=full_name))
            except ValidationError as exc:
                raise CommandError("DJANGO_SUPERUSER_PASSWORD: " + " ".join(exc.messages)) from None
        with as_system(command_cid("createsuperuser")):
            return super().handle(*args, **options)
