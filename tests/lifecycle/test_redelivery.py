"""A resumed session's redelivered copies of messages already queued are acknowledged and not queued again,
whether this listener queued them or one that crashed before its PUBACKs left."""

from __future__ import annotations

from mqtt_app.listener.batcher import digest
from mqtt_app.listener.client import ConnectionClient, ConnectionSpec

PUBLISH_QOS1 = 0x32
DUP = 0x08


class Host:
    def __init__(self, queued_before: dict[int, int]) -> None:
        self.queued_before = queued_before
        self.chunks: list = []

    def socket_opened(self, client, sock): ...
    def socket_closed(self, client, sock): ...
    def want_write(self, client, sock, wanted): ...
    def schedule_connect(self, client, delay): ...
    def report(self, client, status, detail, event=None): ...

    def received(self, client, chunk) -> None:
        self.chunks.append(chunk)

    def session_resumed(self, client, generation) -> dict[int, int]:
        return self.queued_before


def resumed_client(queued_before: dict[int, int]) -> tuple[ConnectionClient, Host, list[int]]:
    host = Host(queued_before)
    client = ConnectionClient(ConnectionSpec(1, "127.0.0.1", 1, client_id="mqttmon-test"), host)
    acked: list[int] = []
    client.paho.send_acks = lambda mids, qos: acked.extend(mids)  # no socket here: record what would be written
    client._expect_redelivery(resumed=True)  # noqa: SLF001 - the CONNACK with session present
    return client, host, acked


def test_a_redelivered_copy_of_what_a_crashed_listener_queued_is_acknowledged_not_queued():
    client, host, acked = resumed_client({7: digest(b"site/a", b"21.5")})

    client._on_publishes([b"site/a", b"site/a"], [b"21.5", b"22.0"], [PUBLISH_QOS1 | DUP] * 2, [7, 8])  # noqa: SLF001

    assert acked == [7]
    assert [chunk.mids for chunk in host.chunks] == [[8]]


def test_a_redelivered_message_with_another_payload_under_that_packet_id_is_queued():
    client, host, acked = resumed_client({7: digest(b"site/a", b"21.5")})

    client._on_publishes([b"site/a"], [b"99"], [PUBLISH_QOS1 | DUP], [7])  # noqa: SLF001

    assert acked == [] and [chunk.mids for chunk in host.chunks] == [[7]]


def test_a_first_delivery_is_never_taken_for_a_copy():
    client, host, acked = resumed_client({7: digest(b"site/a", b"21.5")})

    client._on_publishes([b"site/a"], [b"21.5"], [PUBLISH_QOS1], [7])  # noqa: SLF001 - no DUP flag

    assert acked == [] and [chunk.mids for chunk in host.chunks] == [[7]]


def test_messages_this_listener_queued_whose_acks_the_old_connection_lost_are_skipped_once_resumed():
    client, host, acked = resumed_client({})
    client.ack(client.generation, 1, [3, 4])  # not connected: the PUBACKs cannot be written
    client._expect_redelivery(resumed=True)  # noqa: SLF001

    client._on_publishes([b"t", b"t"], [b"1", b"2"], [PUBLISH_QOS1 | DUP] * 2, [3, 4])  # noqa: SLF001

    assert acked == [3, 4] and host.chunks == []
