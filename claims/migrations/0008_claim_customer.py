"""Claims carry their policy's customer (`Claim.customer`), so a search by customer walks one index of claims.

The admin's claim search by a customer's name or e-mail joined every claim, newest first, to its policy and
customer until a page was full: for a common surname at a million customers that was thousands of rows (162 ms
on one machine, 308 ms on a slower one), growing with the surname's frequency. With the customer on the claim
and an index on (customer, created_at, id), the matching customers' claims are read from that index.

The value is the policy's customer, always: the existing rows are filled from their policies, new claims take it
on save (`Claim.save`), and on PostgreSQL a composite foreign key (policy_id, customer_id) → the policy's
(id, customer_id) refuses anything else, written by any path. A policy's customer never changes (read-only in
the admin, no service changes it), so nothing has to follow it.
"""

import django.db.models.deletion
from django.db import migrations, models

UNIQUE = "policies_policy_id_customer_uniq"
KEY = "claims_claim_policy_customer_fk"


def fill(apps, schema_editor) -> None:
    schema_editor.execute(
        "UPDATE claims_claim SET customer_id = "
        "(SELECT customer_id FROM policies_policy WHERE policies_policy.id = claims_claim.policy_id)"
    )


def add_key(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE policies_policy ADD CONSTRAINT {UNIQUE} UNIQUE (id, customer_id)")
    schema_editor.execute(
        f"ALTER TABLE claims_claim ADD CONSTRAINT {KEY} FOREIGN KEY (policy_id, customer_id) "
        "REFERENCES policies_policy (id, customer_id)"  # checked at each statement, not deferred to commit
    )


def drop_key(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE claims_claim DROP CONSTRAINT IF EXISTS {KEY}")
    schema_editor.execute(f"ALTER TABLE policies_policy DROP CONSTRAINT IF EXISTS {UNIQUE}")


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0007_payee_trigram_index"),
        ("customers", "0006_masked_columns"),
        ("policies", "0003_status_created_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="claim",
            name="customer",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="claims",
                to="customers.customer",
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="claim",
            name="customer",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="claims",
                to="customers.customer",
            ),
        ),
        migrations.AddIndex(
            model_name="claim",
            index=models.Index(fields=["customer", "created_at", "id"], name="claims_customer_created_idx"),
        ),
        migrations.RunPython(add_key, drop_key, elidable=False),
    ]
