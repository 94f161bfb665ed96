"""``changepassword``, audited: the password change is written as the system actor with a `cmd-…` correlation id
(the audit entry masks the hash), like every operator command's writes. The password policy applies as in Django."""

from __future__ import annotations

from django.contrib.auth.management.commands.changepassword import Command as DjangoChangePassword

from vanguard.accounts.system import as_system, command_cid


class Command(DjangoChangePassword):
    def handle(self, *args, **options):
        with as_system(command_cid("changepassword")):
            return super().handle(*args, **options)
