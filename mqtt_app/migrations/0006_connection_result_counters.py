"""Monotonic result counters on each connection, for /metrics.

Before, /metrics summed every IngestBatch row at each scrape: a full aggregate of a table that holds every
batch of the last MQTT_LOG_RETENTION_DAYS, and counters that fell when retention deleted rows. The
counters start where /metrics left them: stored messages and readings from the batches on record, failed
messages from the topics' error counts.
"""

from django.db import migrations, models
from django.db.models import F, Sum


def backfill(apps, schema_editor):  # noqa: ANN001, ANN201
    connections = apps.get_model("mqtt", "MqttConnection").objects
    batches = apps.get_model("mqtt", "IngestBatch").objects.values("connection_id").annotate(
        stored=Sum(F("message_count") - F("error_count")), readings=Sum("reading_count")
    )
    for row in batches:
        connections.filter(pk=row["connection_id"]).update(
            messages_stored=row["stored"] or 0, readings_stored=row["readings"] or 0
        )
    topics = apps.get_model("mqtt", "MqttTopic").objects.values("connection_id").annotate(failed=Sum("error_count"))
    for row in topics:
        connections.filter(pk=row["connection_id"]).update(messages_failed=row["failed"] or 0)


class Migration(migrations.Migration):
    dependencies = [("mqtt", "0005_reading_topic_time_index")]

    operations = [
        migrations.AddField(
            model_name="mqttconnection",
            name="messages_failed",
            field=models.BigIntegerField(default=0, help_text="Messages that failed to parse."),
        ),
        migrations.AddField(
            model_name="mqttconnection",
            name="messages_stored",
            field=models.BigIntegerField(default=0, help_text="Messages processed without a parse error."),
        ),
        migrations.AddField(
            model_name="mqttconnection",
            name="readings_stored",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
