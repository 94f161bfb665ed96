from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from compliance import audit

        audit.register_models()
        audit.connect_context_receiver()

        from compliance.keys import install_key_fallbacks

        # Rows still encrypted under a previous key stay readable during a key rotation (compliance.keys).
        install_key_fallbacks()
