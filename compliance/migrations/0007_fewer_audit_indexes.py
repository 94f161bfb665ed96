# Issue 13: fewer indexes for every audit entry, PII access row and claim to write. Each audit entry writes its
# indexes twice (insert, then the sealing UPDATE, never HOT). Dropped: indexes that a composite index already
# leads with (the content type, the PII log's actor and customer), auditlog's on `object_id` (always NULL with
# UUID keys), `action` (four values) and `entry_hash` (never searched), and the LIKE twins of `object_pk` and
# `cid`, whose b-trees stay (renamed, not rebuilt) for the admin's exact searches.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from vanguard.core.schema import plain_index_from_db_index


class Migration(migrations.Migration):

    dependencies = [
        ('compliance', '0006_audit_salt_unique'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('customers', '0006_masked_columns'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditentry',
            name='action',
            field=models.PositiveSmallIntegerField(choices=[(0, 'create'), (1, 'update'), (2, 'delete'), (3, 'access')], verbose_name='action'),
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='content_type',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='contenttypes.contenttype', verbose_name='content type'),
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='entry_hash',
            field=models.CharField(blank=True, default='', editable=False, max_length=64),
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='object_id',
            field=models.BigIntegerField(blank=True, null=True, verbose_name='object id'),
        ),
        migrations.AlterField(
            model_name='piiaccesslog',
            name='actor',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='piiaccesslog',
            name='customer',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='customers.customer'),
        ),
        plain_index_from_db_index(
            model_name='auditentry',
            name='object_pk',
            field=models.CharField(max_length=255, verbose_name='object pk'),
            table='compliance_auditentry',
            old_name='compliance_auditentry_object_pk_b9b92017',
            new_name='compliance_audit_object_pk_idx',
        ),
        plain_index_from_db_index(
            model_name='auditentry',
            name='cid',
            field=models.CharField(blank=True, max_length=255, null=True, verbose_name='Correlation ID'),
            table='compliance_auditentry',
            old_name='compliance_auditentry_cid_fe0c65c7',
            new_name='compliance_audit_cid_idx',
        ),
    ]
