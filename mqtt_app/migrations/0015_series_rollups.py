"""Rollups of numeric readings per (topic, metric): per minute and per hour, and the roll-up's own state."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mqtt", "0014_alerts"),
    ]

    operations = [
        migrations.CreateModel(
            name="RolledLateReading",
            fields=[
                ("reading_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("received_at", models.DateTimeField(db_index=True)),
            ],
        ),
        migrations.CreateModel(
            name="RollupState",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("marker", models.BigIntegerField(blank=True, null=True)),
                ("ran_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name="SeriesRollup",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("metric", models.CharField(max_length=255)),
                ("width", models.PositiveIntegerField(choices=[(60, "minute"), (3600, "hour")])),
                ("start", models.DateTimeField(help_text="Start of the bucket (device time, aligned to the width).")),
                ("min", models.FloatField()),
                ("max", models.FloatField()),
                ("sum", models.FloatField()),
                ("count", models.BigIntegerField()),
                (
                    "topic",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rollups",
                        to="mqtt.mqtttopic",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["width", "start"], name="mqtt_rollup_age")],
                "constraints": [
                    models.UniqueConstraint(fields=("topic", "metric", "width", "start"), name="mqtt_rollup_bucket")
                ],
            },
        ),
    ]
