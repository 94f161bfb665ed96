from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """The transactional outbox: notifications written with the change that causes them (vanguard/outbox)."""

    name = "vanguard.outbox"
    label = "outbox"
    verbose_name = "Outbox"
    default_auto_field = "django.db.models.BigAutoField"
