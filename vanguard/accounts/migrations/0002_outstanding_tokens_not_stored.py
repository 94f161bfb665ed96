"""Refresh tokens are no longer stored (issue 12, item 7).

simplejwt's token_blacklist app kept each whole refresh JWT in `OutstandingToken.token`, so a copy of the
database was a set of working seven-day credentials. Revocation needs only the `jti`, the user and the
expiry, which stay. This wipes the stored tokens and, on PostgreSQL, adds a CHECK so no write path (bulk
writes and raw SQL included) can store one again; the ORM path blanks the value first (signals.py).
"""

from django.db import migrations

TABLE = "token_blacklist_outstandingtoken"
CONSTRAINT = "accounts_outstandingtoken_token_not_stored"


def forward(apps, schema_editor):
    OutstandingToken = apps.get_model("token_blacklist", "OutstandingToken")
    OutstandingToken.objects.using(schema_editor.connection.alias).exclude(token="").update(token="")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {CONSTRAINT} CHECK (token = '')")


def backward(apps, schema_editor):
    # The wiped tokens are gone for good; only the constraint is removed.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {CONSTRAINT}")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("token_blacklist", "0013_alter_blacklistedtoken_options_and_more"),
    ]

    operations = [migrations.RunPython(forward, backward)]
