"""SenML CBOR through a worker batch: good packs are stored beside hostile ones, which become one error group."""

from __future__ import annotations

import cbor2
import pytest

from mqtt_app.ingest.pipeline import ingest_batch
from mqtt_app.models import MqttParsingLog, TelemetryReading
from tests.ingest.batches import make_batch


@pytest.mark.django_db(transaction=True)
def test_hostile_cbor_packs_are_one_error_group_and_the_good_packs_beside_them_are_stored(connection):
    good = [("gw/senml", cbor2.dumps([{-2: "/72/", 0: "1/2", 2: 20.0 + n}])) for n in range(3)]
    hostile = [
        ("gw/senml", b"\x81" * 5000 + b"\x01"),
        ("gw/senml", good[0][1][:-3]),
        ("gw/senml", b"\x9b" + b"\xff" * 8),
    ]

    outcome = ingest_batch(make_batch(connection.pk, good[:1] + hostile + good[1:]))

    assert (outcome.status, outcome.readings, outcome.errors, outcome.dead_letters) == ("stored", 3, 3, 0)
    assert sorted(TelemetryReading.objects.values_list("metric", "value")) == [
        ("/72/1/2", 20.0),
        ("/72/1/2", 21.0),
        ("/72/1/2", 22.0),
    ]
    group = MqttParsingLog.objects.get()
    assert (group.parser_name, group.error_kind, group.location, group.count) == ("senml", "decode", "cbor", 3)
