# The blind index's lookups are exact: its b-tree stays (renamed), its LIKE twin goes (issue 13: every insert
# wrote it). No rebuild: vanguard.core.schema.plain_index_from_db_index.

from django.db import migrations, models

from vanguard.core.schema import plain_index_from_db_index


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0006_masked_columns'),
    ]

    operations = [
        plain_index_from_db_index(
            model_name='customer',
            name='ssn_hash',
            field=models.CharField(blank=True, default='', editable=False, max_length=64, verbose_name='national id blind index'),
            table='customers_customer',
            old_name='customers_customer_ssn_hash_d0a804c7',
            new_name='customers_ssn_hash_idx',
        ),
    ]
