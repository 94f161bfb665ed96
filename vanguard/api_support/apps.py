from django.apps import AppConfig


class ApiSupportConfig(AppConfig):
    """Cross-cutting API state: idempotency records and the login-attempt log (SPEC §3, §6)."""

    name = "vanguard.api_support"
    label = "api_support"
    verbose_name = "API support"
    default_auto_field = "django.db.models.BigAutoField"
