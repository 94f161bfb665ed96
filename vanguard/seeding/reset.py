"""`seed --reset`: wipe the domain data (development and test only).

Staff users, roles and the audit trail stay: the users keep their logins, and the trail is history
(auditlog rows point at objects by id, not by foreign key, so they survive the wipe).
"""

from __future__ import annotations

from django.apps import apps
from django.db import connection, models, transaction

DOMAIN_MODELS = (
    "claims.ClaimDocument",
    "claims.ClaimEvent",
    "claims.Claim",
    "policies.PolicyEvent",
    "policies.Policy",
    "customers.Customer",
)


def models_to_wipe() -> list[type[models.Model]]:
    """The domain models plus every model that references one of them (e.g. a PII access log row),
    found from the model graph so a table added later by another app is not left dangling."""
    wipe = {apps.get_model(label) for label in DOMAIN_MODELS}
    changed = True
    while changed:
        changed = False
        for model in apps.get_models():
            if model in wipe or model._meta.proxy or not model._meta.managed:
                continue
            if any(
                f.is_relation and (f.many_to_one or f.one_to_one) and f.related_model in wipe
                for f in model._meta.concrete_fields
            ):
                wipe.add(model)
                changed = True
    return sorted(wipe, key=lambda m: m._meta.db_table)


def wipe_domain_data() -> dict[str, int]:
    """Delete every row of the domain tables and their documents' files; returns rows per table.

    Raw TRUNCATE/DELETE on purpose: the ORM would load every row and write an audit entry for each
    deletion, which on a volume database takes minutes. This is a development reset, not a business action.
    """
    from claims.models import ClaimDocument

    targets = models_to_wipe()
    counts = {model._meta.label: model._default_manager.count() for model in targets}
    files = list(ClaimDocument.objects.exclude(file="").values_list("file", flat=True))
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # TRUNCATE refuses tables with deferred foreign-key checks still queued in this transaction.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("TRUNCATE " + ", ".join(quote(m._meta.db_table) for m in targets))
        else:  # foreign keys are deferred to commit, so the order does not matter
            for model in targets:
                cursor.execute(f"DELETE FROM {quote(model._meta.db_table)}")  # noqa: S608 - table names from models
    storage = ClaimDocument._meta.get_field("file").storage
    for name in files:
        storage.delete(name)
    return counts
