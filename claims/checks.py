"""Start-up checks of the claims settings (run by `manage.py check`, migrate and runserver)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

from claims.models import DOCUMENT_SIZE_CEILING


@register()
def check_document_max_bytes(app_configs, **kwargs) -> list[Error]:
    """DOCUMENT_MAX_BYTES may lower the database's document ceiling, not raise it: above it, uploads the limit
    allows would be refused by the database's check constraint instead of with the limit's message."""
    limit = settings.DOCUMENT_MAX_BYTES
    if isinstance(limit, int) and 0 < limit <= DOCUMENT_SIZE_CEILING:
        return []
    return [
        Error(
            f"DOCUMENT_MAX_BYTES must be between 1 and {DOCUMENT_SIZE_CEILING} bytes (the database's limit on a claim "
            f"document), not {limit!r}.",
            hint="Lower DOCUMENT_MAX_BYTES, or raise DOCUMENT_SIZE_CEILING in claims/models.py with a migration.",
            id="claims.E001",
        )
    ]
