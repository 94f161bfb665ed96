from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "vanguard.accounts"
    label = "accounts"
    verbose_name = "Staff accounts"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from vanguard.accounts.roles import bootstrap_roles_after_migrate

        post_migrate.connect(bootstrap_roles_after_migrate, sender=self)

        from vanguard.accounts import signals

        signals.connect()
