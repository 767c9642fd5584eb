"""Sparkplug B state: edge nodes and devices with their BIRTH certificates, and host applications."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('mqtt', '0012_reading_partitions'),
    ]

    operations = [
        migrations.CreateModel(
            name='SparkplugHost',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('host', models.CharField(max_length=255)),
                ('is_online', models.BooleanField(default=False)),
                ('timestamp', models.DateTimeField(blank=True, help_text="The host's own time of the state.", null=True)),
                ('updated_at', models.DateTimeField()),
                ('connection', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='sparkplug_hosts', to='mqtt.mqttconnection')),
            ],
            options={
                'ordering': ['host'],
                'constraints': [models.UniqueConstraint(fields=('connection', 'host'), name='mqtt_sparkplug_host_unique')],
            },
        ),
        migrations.CreateModel(
            name='SparkplugNode',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('group', models.CharField(max_length=255)),
                ('edge_node', models.CharField(max_length=255)),
                ('device', models.CharField(blank=True, help_text='Empty for the edge node itself.', max_length=255)),
                ('is_online', models.BooleanField(default=False)),
                ('bd_seq', models.BigIntegerField(blank=True, help_text='The birth/death sequence of the session.', null=True)),
                ('last_seq', models.PositiveSmallIntegerField(blank=True, help_text='Edge node: the last seq seen.', null=True)),
                ('metrics', models.JSONField(blank=True, default=list, help_text='The BIRTH certificate: name, alias, datatype, unit.')),
                ('births', models.PositiveIntegerField(default=0)),
                ('seq_gaps', models.PositiveIntegerField(default=0, help_text='Edge node: messages whose seq skipped a number.')),
                ('data_before_birth', models.PositiveIntegerField(default=0, help_text='DATA messages before any BIRTH.')),
                ('unresolved_metrics', models.PositiveIntegerField(default=0, help_text='DATA metrics no BIRTH named.')),
                ('stale_deaths', models.PositiveIntegerField(default=0, help_text='NDEATHs of an older session (bdSeq), ignored.')),
                ('last_birth_at', models.DateTimeField(blank=True, null=True)),
                ('last_death_at', models.DateTimeField(blank=True, null=True)),
                ('last_message_at', models.DateTimeField(blank=True, null=True)),
                ('connection', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='sparkplug_nodes', to='mqtt.mqttconnection')),
            ],
            options={
                'ordering': ['group', 'edge_node', 'device'],
                'constraints': [models.UniqueConstraint(fields=('connection', 'group', 'edge_node', 'device'), name='mqtt_sparkplug_node_unique')],
            },
        ),
    ]
