"""Broker passwords and TLS client keys are stored encrypted, read decrypted, and rotate between keys."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.db import connection as db
from django.test import override_settings

from mqtt_app import crypto
from mqtt_app.models import MqttConnection

pytestmark = pytest.mark.django_db
KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()
PEM = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"


def raw(pk: int) -> tuple[str, str, str]:
    """The stored (password, tls_client_key, client_id), as the database holds them."""
    with db.cursor() as cursor:
        table = db.ops.quote_name(MqttConnection._meta.db_table)
        cursor.execute(f"SELECT password, tls_client_key, client_id FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()


def write_raw(pk: int, **values: str) -> None:
    table = db.ops.quote_name(MqttConnection._meta.db_table)
    assignments = ", ".join(f"{name} = %s" for name in values)
    with db.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {assignments} WHERE id = %s", [*values.values(), pk])  # noqa: S608


@override_settings(MQTT_SECRET_KEYS=[KEY_A])
def test_the_database_holds_ciphertext_and_the_model_the_plain_value(make_connection):
    conn = make_connection(password="hunter2-broker", tls_client_cert="CERT", tls_client_key=PEM)
    password, key, _ = raw(conn.pk)
    assert password.startswith("fernet:") and "hunter2" not in password
    assert key.startswith("fernet:") and "secret" not in key and "PRIVATE" not in key
    assert Fernet(KEY_A).decrypt(password.removeprefix("fernet:").encode()) == b"hunter2-broker"
    fresh = MqttConnection.objects.get(pk=conn.pk)
    assert (fresh.password, fresh.tls_client_key) == ("hunter2-broker", PEM)


@override_settings(MQTT_SECRET_KEYS=[KEY_A])
def test_the_listener_reads_decrypted_settings_without_any_change_of_its_own(make_connection):
    from mqtt_app.listener.service import load_specs

    conn = make_connection(password="hunter2-broker", tls_client_cert="CERT", tls_client_key=PEM)
    spec = load_specs({conn.pk})[conn.pk]
    assert (spec.password, spec.tls_client_key) == ("hunter2-broker", PEM)
    assert spec.client_id == conn.client_id


@override_settings(MQTT_SECRET_KEYS=[KEY_A])
def test_an_empty_secret_stays_empty_so_has_password_is_a_plain_comparison(make_connection, staff_client):
    conn = make_connection(password="")
    assert raw(conn.pk)[0] == ""
    assert staff_client.get(f"/api/connections/{conn.pk}").json()["has_password"] is False


def test_rotation_puts_every_secret_on_the_first_key(make_connection):
    with override_settings(MQTT_SECRET_KEYS=[KEY_A]):
        conn = make_connection(password="old-key-secret", tls_client_cert="CERT", tls_client_key=PEM)
        plain = make_connection(password="")
    with override_settings(MQTT_SECRET_KEYS=[KEY_B, KEY_A]):
        assert MqttConnection.objects.get(pk=conn.pk).password == "old-key-secret"  # the old key still reads
        out = io.StringIO()
        call_command("mqtt_rotate_secrets", "--check", stdout=out)
        assert out.getvalue().startswith("1 connection(s)")
        call_command("mqtt_rotate_secrets", stdout=io.StringIO())
        assert crypto.key_in_use(raw(conn.pk)[0]) == 0 and crypto.key_in_use(raw(conn.pk)[1]) == 0
        assert raw(plain.pk)[0] == ""
    with override_settings(MQTT_SECRET_KEYS=[KEY_B]):
        fresh = MqttConnection.objects.get(pk=conn.pk)
        assert (fresh.password, fresh.tls_client_key) == ("old-key-secret", PEM)


def test_rotation_does_not_touch_updated_at_so_listeners_do_not_reconnect(make_connection):
    with override_settings(MQTT_SECRET_KEYS=[KEY_A]):
        conn = make_connection(password="pw")
    stamp = MqttConnection.objects.filter(pk=conn.pk).values_list("updated_at", flat=True)
    before = stamp.get()
    with override_settings(MQTT_SECRET_KEYS=[KEY_B, KEY_A]):
        call_command("mqtt_rotate_secrets", stdout=io.StringIO())
    assert stamp.get() == before


def test_a_secret_no_key_opens_fails_loudly_rather_than_connecting_without_it(make_connection):
    with override_settings(MQTT_SECRET_KEYS=[KEY_A]):
        conn = make_connection(password="pw")
    with override_settings(MQTT_SECRET_KEYS=[KEY_B]), pytest.raises(crypto.SecretDecryptionError, match="rotate"):
        MqttConnection.objects.get(pk=conn.pk)


@override_settings(MQTT_SECRET_KEYS=[])
def test_without_keys_a_key_derived_from_secret_key_is_used_and_a_check_says_so(make_connection):
    from django.core.checks import run_checks

    conn = make_connection(password="dev-pw")
    assert raw(conn.pk)[0].startswith("fernet:")
    assert MqttConnection.objects.get(pk=conn.pk).password == "dev-pw"
    assert "mqtt.W020" in {message.id for message in run_checks()}
    with override_settings(MQTT_SECRET_KEYS=[KEY_A]):
        assert "mqtt.W020" not in {message.id for message in run_checks()}


@override_settings(MQTT_SECRET_KEYS=[KEY_A])
def test_the_data_migration_encrypts_plain_values_and_pins_existing_client_ids(make_connection):
    from importlib import import_module

    migration = import_module("mqtt_app.migrations.0009_connection_secrets_encrypted")
    conn = make_connection(password="x", tls_client_cert="CERT", tls_client_key="x")
    write_raw(conn.pk, password="legacy-plain", tls_client_key=PEM, client_id="")  # as stored before 0009
    assert MqttConnection.objects.get(pk=conn.pk).password == "legacy-plain"  # read as it is until migrated
    migration.encrypt_and_pin_client_ids(apps, SimpleNamespace(connection=db))
    password, key, client_id = raw(conn.pk)
    assert password.startswith("fernet:") and key.startswith("fernet:")
    assert client_id == f"mqttmon-{conn.pk}"  # the id its persistent session has on the broker
    fresh = MqttConnection.objects.get(pk=conn.pk)
    assert (fresh.password, fresh.tls_client_key) == ("legacy-plain", PEM)
