"""Readings lose their (connection, time) index: a third of the database's CPU per message at ten connections.

A connection's readings are read through its topics' (topic, time) index (api/reading_queries.py), and go with
its topics when it is deleted, hence DO_NOTHING (no SQL: the key has no database constraint).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('mqtt', '0006_connection_result_counters'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='telemetryreading',
            name='mqtt_reading_conn_ts',
        ),
        migrations.AlterField(
            model_name='telemetryreading',
            name='connection',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='readings', to='mqtt.mqttconnection'),
        ),
    ]
