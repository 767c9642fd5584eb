"""What the listener puts on the `ingest` queue: the batch contract, binary payloads byte for byte."""

from __future__ import annotations

import subprocess

import pytest

from mqtt_app.services.reconcile import run_reconcile
from tests.helpers import wait_for
from tests.lifecycle.listeners import held_status, queued_batches, queued_messages

# Both read paths: the fast reader and stock paho-mqtt's (MQTT_FAST_READER, docs/listener.md).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.parametrize("fast_reader", ["true", "false"]),
]


def test_batches_follow_the_contract_and_keep_binary_payloads_intact_at_every_qos(
    broker, make_connection, listener_factory, redis_client, tmp_path
):
    connection = make_connection(broker, topics=[{"filter": "bin/#", "qos": 2}])
    listener_factory("L1")
    run_reconcile()
    wait_for(lambda: held_status(redis_client, "L1", connection.pk) == "connected", timeout=10, what="connected")
    payload = bytes(range(256)) * 3
    (tmp_path / "blob").write_bytes(payload)
    for qos in (0, 1, 2):
        subprocess.run(
            [
                "mosquitto_pub",
                "-p",
                str(broker.port),
                "-t",
                f"bin/q{qos}",
                "-f",
                str(tmp_path / "blob"),
                "-q",
                str(qos),
                *(["-r"] if qos == 2 else []),
            ],
            check=True,
        )

    wait_for(lambda: len(queued_messages(redis_client)) == 3, timeout=10, what="three messages batched")
    batch = queued_batches(redis_client)[0]
    assert set(batch) == {"id", "listener", "sent_at", "parts"}
    assert batch["listener"] == "L1"
    assert [set(part) for part in batch["parts"]] == [
        {"connection_id", "topics", "payloads", "qos", "retain", "received_at"}
    ]
    assert batch["parts"][0]["connection_id"] == connection.pk
    assert all(type(p) is bytes for b in queued_batches(redis_client) for p in b["parts"][0]["payloads"])  # msgpack
    by_topic = {m.topic: m for _, m in queued_messages(redis_client)}
    assert sorted(by_topic) == ["bin/q0", "bin/q1", "bin/q2"]
    for qos in (0, 1, 2):
        message = by_topic[f"bin/q{qos}"]
        assert message.payload == payload
        assert message.qos == qos
    assert [by_topic[f"bin/q{q}"].retain for q in (0, 1, 2)] == [False, False, False]  # live, not from store
