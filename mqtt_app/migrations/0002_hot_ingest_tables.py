"""The hot ingestion tables made cheaper to write (why: see mqtt_app/models/readings.py and topics.py)."""

import django.db.models.deletion
import mqtt_app.models.indexes
from django.db import migrations, models


TOPIC_FILLFACTOR = 50  # half of each page free: a topic's per-batch update stays HOT (in its own page)


def set_topic_fillfactor(apps, schema_editor, value=TOPIC_FILLFACTOR):
    if schema_editor.connection.vendor == "postgresql":  # SQLite has no such setting
        table = schema_editor.quote_name(apps.get_model("mqtt", "MqttTopic")._meta.db_table)
        schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {int(value)})")


def reset_topic_fillfactor(apps, schema_editor):
    set_topic_fillfactor(apps, schema_editor, 100)


class Migration(migrations.Migration):

    dependencies = [
        ('mqtt', '0001_initial'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='mqtttopic',
            name='mqtt_topic_conn_lastseen',
        ),
        migrations.RemoveIndex(
            model_name='telemetryreading',
            name='mqtt_reading_ts',
        ),
        migrations.AlterField(
            model_name='mqtttopic',
            name='connection',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='topic_rows', to='mqtt.mqttconnection'),
        ),
        migrations.AlterField(
            model_name='telemetryreading',
            name='connection',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='readings', to='mqtt.mqttconnection'),
        ),
        migrations.AlterField(
            model_name='telemetryreading',
            name='topic',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='readings', to='mqtt.mqtttopic'),
        ),
        migrations.AddIndex(
            model_name='telemetryreading',
            index=mqtt_app.models.indexes.BrinOnPostgreSQL(fields=['received_at'], name='mqtt_reading_received'),
        ),
        migrations.RunPython(set_topic_fillfactor, reset_topic_fillfactor),
    ]
