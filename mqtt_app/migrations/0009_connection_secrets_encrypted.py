"""Broker passwords and TLS client keys encrypted at rest; control characters refused; every connection stores its
client id (existing ones keep the 'mqttmon-<id>' they connected with, so their persistent sessions survive)."""

import django.core.validators
from django.db import migrations, models

import mqtt_app.crypto
import mqtt_app.models.connections
import mqtt_app.validators


def encrypt_and_pin_client_ids(apps, schema_editor):  # noqa: ANN001, ANN201 - RunPython's signature
    MqttConnection = apps.get_model("mqtt", "MqttConnection")
    rows = MqttConnection.objects.using(schema_editor.connection.alias).order_by("pk")
    # Read through the encrypted field (plain text without the prefix is read as it is), written back through
    # it (encrypted). update(): no updated_at bump, so listeners do not reconnect for an unchanged setting.
    for pk, password, key, client_id in list(rows.values_list("pk", "password", "tls_client_key", "client_id")):
        MqttConnection.objects.using(schema_editor.connection.alias).filter(pk=pk).update(
            password=password, tls_client_key=key, client_id=client_id or f"mqttmon-{pk}"
        )


def decrypt(apps, schema_editor):  # noqa: ANN001, ANN201 - RunPython's signature
    MqttConnection = apps.get_model("mqtt", "MqttConnection")
    table = schema_editor.quote_name(MqttConnection._meta.db_table)
    rows = MqttConnection.objects.using(schema_editor.connection.alias).values_list("pk", "password", "tls_client_key")
    with schema_editor.connection.cursor() as cursor:
        for pk, password, key in list(rows):
            # Plain SQL: the field would encrypt what it writes.
            cursor.execute(
                f"UPDATE {table} SET password = %s, tls_client_key = %s WHERE id = %s",  # noqa: S608 - our table
                [password, key, pk],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("mqtt", "0008_dead_letters"),
    ]

    operations = [
        migrations.AlterField(
            model_name="mqttconnection",
            name="client_id",
            field=models.CharField(
                blank=True,
                default=mqtt_app.models.connections.new_client_id,
                help_text="Stable MQTT client id (persistent sessions follow it); left empty, a random 'mqttmon-…' "
                "is stored.",
                max_length=128,
                validators=[mqtt_app.validators.validate_no_control_characters],
            ),
        ),
        migrations.AlterField(
            model_name="mqttconnection",
            name="username",
            field=models.CharField(
                blank=True, max_length=255, validators=[mqtt_app.validators.validate_no_control_characters]
            ),
        ),
        migrations.AlterField(
            model_name="mqttconnection",
            name="password",
            field=mqtt_app.crypto.EncryptedTextField(
                blank=True,
                validators=[
                    django.core.validators.MaxLengthValidator(4096),
                    mqtt_app.validators.validate_no_control_characters,
                ],
            ),
        ),
        migrations.AlterField(
            model_name="mqttconnection",
            name="tls_ca_certs",
            field=models.TextField(
                blank=True,
                help_text="PEM of the CA to trust; empty uses the system store.",
                validators=[mqtt_app.validators.validate_pem_text],
            ),
        ),
        migrations.AlterField(
            model_name="mqttconnection",
            name="tls_client_cert",
            field=models.TextField(
                blank=True,
                help_text="PEM client certificate (optional).",
                validators=[mqtt_app.validators.validate_pem_text],
            ),
        ),
        migrations.AlterField(
            model_name="mqttconnection",
            name="tls_client_key",
            field=mqtt_app.crypto.EncryptedTextField(
                blank=True,
                help_text="PEM client key (optional; encrypted, write-only).",
                validators=[mqtt_app.validators.validate_pem_text],
            ),
        ),
        migrations.RunPython(encrypt_and_pin_client_ids, decrypt),
    ]
