"""Readings indexed by (topic, time): what the topic page and the API read, cheaper to maintain (see the model)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('mqtt', '0004_reading_id_cache'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='telemetryreading',
            name='mqtt_reading_topic_metric_ts',
        ),
        migrations.AddIndex(
            model_name='telemetryreading',
            index=models.Index(fields=['topic', '-timestamp'], name='mqtt_reading_topic_ts'),
        ),
    ]
