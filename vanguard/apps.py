from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class VanguardConfig(AppConfig):
    """The project package as an app: operator commands (seed, bootstrap_roles) and the admin dashboard."""

    name = "vanguard"
    verbose_name = "Vanguard"

    def ready(self) -> None:
        from vanguard import checks  # noqa: F401  (registers the middleware deploy checks)
        from vanguard.core import pg_loaders  # noqa: F401  (psycopg's C timestamp loader on PostgreSQL connections)


class VanguardAdminConfig(AdminConfig):
    """django.contrib.admin with the Vanguard back-office site (branding and the dashboard) as `admin.site`."""

    default_site = "vanguard.admin.VanguardAdminSite"
