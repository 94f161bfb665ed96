"""The masked forms of the encrypted contact fields, in clear beside them (Customer.phone_masked and the rest).

The backfill decrypts each existing row once, in batches of 2,000, and writes only the three new columns.
"""

from django.db import migrations, models

BATCH = 2_000


def backfill(apps, schema_editor):
    from customers import pii  # the same rules as Customer.refresh_masks (a historical model has no methods)

    Customer = apps.get_model("customers", "Customer")
    rows = Customer.objects.only("id", "phone", "address", "ssn").order_by("pk")
    batch = []
    for customer in rows.iterator(chunk_size=BATCH):
        customer.phone_masked = pii.mask_phone(customer.phone)
        customer.address_masked = pii.mask_text(customer.address)
        customer.ssn_last4 = pii.ssn_last4(customer.ssn) or ""
        batch.append(customer)
        if len(batch) == BATCH:
            Customer.objects.bulk_update(batch, ["phone_masked", "address_masked", "ssn_last4"])
            batch = []
    if batch:
        Customer.objects.bulk_update(batch, ["phone_masked", "address_masked", "ssn_last4"])


class Migration(migrations.Migration):
    dependencies = [("customers", "0005_created_id_index")]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="phone_masked",
            field=models.CharField(
                blank=True, default="", editable=False, max_length=24, verbose_name="phone (masked)"
            ),
        ),
        migrations.AddField(
            model_name="customer",
            name="address_masked",
            field=models.CharField(
                blank=True, default="", editable=False, max_length=8, verbose_name="address (masked)"
            ),
        ),
        migrations.AddField(
            model_name="customer",
            name="ssn_last4",
            field=models.CharField(
                blank=True, default="", editable=False, max_length=4, verbose_name="national id, last four"
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
