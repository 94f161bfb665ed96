# The claim's derived totals are checked against their parts to the cent on SQLite too (vanguard.core.money.Cents):
# SQLite holds decimals as binary floats, where 0.10 + 0.20 is not 0.30, so correct rows were refused there. The
# constraints' SQL on PostgreSQL is unchanged, so there the database is left alone (no table scan to re-check them).

from django.db import migrations, models

import vanguard.core.money
from vanguard.core.schema import OnlyOn

NEW_GROSS = models.CheckConstraint(
    condition=models.Q(
        gross_incurred=vanguard.core.money.Cents(
            models.F("reserve_indemnity")
            + models.F("reserve_expense")
            + models.F("paid_indemnity")
            + models.F("paid_expense")
        )
    ),
    name="claims_claim_gross_incurred_sum",
)
NEW_NET = models.CheckConstraint(
    condition=models.Q(net_incurred=vanguard.core.money.Cents(models.F("gross_incurred") - models.F("recovered"))),
    name="claims_claim_net_incurred_sum",
)


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0009_fk_indexes_covered_by_composites"),
    ]

    operations = [
        OnlyOn(
            "sqlite",
            [
                migrations.RemoveConstraint(model_name="claim", name="claims_claim_gross_incurred_sum"),
                migrations.RemoveConstraint(model_name="claim", name="claims_claim_net_incurred_sum"),
                migrations.AddConstraint(model_name="claim", constraint=NEW_GROSS),
                migrations.AddConstraint(model_name="claim", constraint=NEW_NET),
            ],
        ),
    ]
