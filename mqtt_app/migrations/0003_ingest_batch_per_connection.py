"""Batch records per connection (see IngestBatch); rows from before keep `batch` empty."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('mqtt', '0002_hot_ingest_tables'),
    ]

    operations = [
        migrations.AddField(
            model_name='ingestbatch',
            name='batch',
            field=models.UUIDField(blank=True, help_text='The listener batch this part belongs to.', null=True),
        ),
        migrations.AlterField(
            model_name='ingestbatch',
            name='connection',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='batches', to='mqtt.mqttconnection'),
        ),
    ]
