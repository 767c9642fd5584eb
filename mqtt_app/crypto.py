"""Broker secrets at rest: Fernet encryption with keys from MQTT_SECRET_KEYS, and a model field that uses it.

The first key encrypts, every key decrypts (MultiFernet), so a key rotates in three steps: put the new key first,
run `manage.py mqtt_rotate_secrets`, drop the old key. Stored values carry a `fernet:` prefix; a value without it
is plain text written before encryption existed (the data migration encrypts those) and is read as it is.

With DEBUG on and no key set, a key derived from SECRET_KEY keeps development working (a system check says so);
settings.py refuses to start without MQTT_SECRET_KEYS when DEBUG is off.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.checks import Warning as CheckWarning
from django.core.checks import register
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"


class SecretDecryptionError(ImproperlyConfigured):
    """A stored secret that no key of MQTT_SECRET_KEYS opens."""


def derived_key(secret_key: str) -> str:
    """A Fernet key from SECRET_KEY, for development without MQTT_SECRET_KEYS."""
    digest = hashlib.sha256(f"mqttmon-secrets-at-rest:{secret_key}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def current_keys() -> tuple[str, ...]:
    return tuple(settings.MQTT_SECRET_KEYS) or (derived_key(settings.SECRET_KEY),)


@lru_cache(maxsize=8)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def cipher() -> MultiFernet:
    # Keyed by the keys themselves, so override_settings in tests and a changed environment both take effect.
    return _cipher(current_keys())


def is_encrypted(stored: str | None) -> bool:
    return bool(stored and stored.startswith(PREFIX))


def encrypt(plain: str) -> str:
    """The stored form of `plain`; empty stays empty (so "is a password set?" is a plain SQL comparison)."""
    if not plain:
        return ""
    return PREFIX + cipher().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(stored: str) -> str:
    if not is_encrypted(stored):
        return stored
    try:
        return cipher().decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise SecretDecryptionError(
            "A stored broker secret cannot be decrypted with any key of MQTT_SECRET_KEYS: was a key removed "
            "before `manage.py mqtt_rotate_secrets` re-encrypted everything with the first one?"
        ) from None


def key_in_use(stored: str) -> int | None:
    """Position in MQTT_SECRET_KEYS of the key that opens `stored` (0: the first); None for plain text."""
    if not is_encrypted(stored):
        return None
    token = stored[len(PREFIX) :].encode("ascii")
    for position, key in enumerate(current_keys()):
        try:
            Fernet(key).decrypt(token)
        except InvalidToken:
            continue
        return position
    raise SecretDecryptionError("A stored broker secret opens with no key of MQTT_SECRET_KEYS.")


class EncryptedTextField(models.TextField):
    """Text stored encrypted, plain in Python: model instances, `values()` and `values_list()` all read the
    decrypted value, so code reading a connection's settings needs nothing special. Lookups compare the stored
    form: only `= ""` (is it empty?) is meaningful."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:  # noqa: ANN401
        return None if value is None else decrypt(value)

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:  # noqa: ANN401
        value = super().get_db_prep_save(value, connection)
        return encrypt(value) if isinstance(value, str) else value


@register()
def check_secret_keys(app_configs, **kwargs):  # noqa: ANN001, ANN201 - Django's signature
    if settings.MQTT_SECRET_KEYS:
        return []
    return [
        CheckWarning(
            "MQTT_SECRET_KEYS is not set: broker passwords and TLS keys are encrypted with a key derived from "
            "SECRET_KEY (development only; production refuses to start without MQTT_SECRET_KEYS).",
            hint="python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
            id="mqtt.W020",
        )
    ]
