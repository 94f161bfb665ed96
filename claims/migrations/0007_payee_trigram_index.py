"""A trigram (pg_trgm GIN) index for the admin's search of payments by payee name, on PostgreSQL only.

Built on the expression Django compiles `payee_name__icontains` to (`UPPER("payee_name"::text) LIKE UPPER(%s)`),
as the customers' name indexes are (customers migration 0003, which also creates the extension). Other databases
get nothing here.
"""

from django.db import migrations

INDEX = "claims_payment_payee_trgm_idx"


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON claims_claimpayment "
        'USING gin ((UPPER(("payee_name")::text)) gin_trgm_ops)'
    )


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("claims", "0006_reserve_change_database_clock")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
