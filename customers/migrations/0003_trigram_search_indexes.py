"""Trigram (pg_trgm GIN) indexes for the partial name and e-mail searches, on PostgreSQL only.

Django compiles `field__icontains=term` on PostgreSQL to `UPPER("table"."field"::text) LIKE UPPER(%s)`, so each
index is built on exactly that expression: the planner can then answer `LIKE '%smi%'` (admin search, API
`search`, `first_name`/`last_name` filters) from the index instead of scanning every customer. Other databases
(SQLite for scripts/run) have neither the extension nor GIN, and get nothing here. The indexes are not declared
in Customer.Meta for the same reason (a GinIndex there would be emitted on SQLite too).
"""

from django.db import migrations

COLUMNS = ("first_name", "last_name", "email")


def _name(column: str) -> str:
    return f"customers_{column}_trgm_idx"


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it without superuser.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS {_name(column)} ON customers_customer '
            f'USING gin ((UPPER(("{column}")::text)) gin_trgm_ops)'
        )


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {_name(column)}")


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0002_retention_due_index"),
    ]

    operations = [
        migrations.RunPython(create, drop, elidable=False),
    ]
