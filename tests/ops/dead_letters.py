"""A dead letter row made directly, for the tests of what reads them (lists, pages, metrics, admin)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.utils import timezone

from mqtt_app.models import DeadLetter, MqttConnection


def make_dead_letter(
    connection: MqttConnection,
    *,
    topic: str = "plant/boiler/temp",
    payload: bytes = b'{"v": 666}',
    minutes_ago: int = 0,
    **fields,
) -> DeadLetter:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    fields.setdefault("error_kind", "CheckViolation")
    fields.setdefault("error", 'CheckViolation: new row violates check constraint "refuse_test_value"')
    return DeadLetter.objects.create(
        id=uuid.uuid4(), batch=uuid.uuid4(), connection_id=connection.pk, topic=topic, payload=payload, qos=1,
        received_at=at, created_at=at, **fields,
    )  # fmt: skip
