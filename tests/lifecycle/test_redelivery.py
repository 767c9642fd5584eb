"""A resumed session's redelivered copies of messages this listener already queued are acknowledged and not
queued again."""

from __future__ import annotations

from mqtt_app.listener.client import ConnectionClient, ConnectionSpec

PUBLISH_QOS1 = 0x32
DUP = 0x08


class Host:
    def __init__(self) -> None:
        self.chunks: list = []

    def socket_opened(self, client, sock): ...
    def socket_closed(self, client, sock): ...
    def want_write(self, client, sock, wanted): ...
    def schedule_connect(self, client, delay): ...
    def report(self, client, status, detail, event=None): ...

    def received(self, client, chunk) -> None:
        self.chunks.append(chunk)

    def session_resumed(self, client, generation) -> None: ...


def resumed_client() -> tuple[ConnectionClient, Host, list[int]]:
    host = Host()
    client = ConnectionClient(ConnectionSpec(1, "127.0.0.1", 1, client_id="mqttmon-test"), host)
    acked: list[int] = []
    client.paho.send_acks = lambda mids, qos: acked.extend(mids)  # no socket here: record what would be written
    client._expect_redelivery(resumed=True)  # noqa: SLF001 - the CONNACK with session present
    return client, host, acked


def test_messages_this_listener_queued_whose_acks_the_old_connection_lost_are_skipped_once_resumed():
    client, host, acked = resumed_client()
    client.ack(client.generation, 1, [3, 4])  # not connected: the PUBACKs cannot be written
    client._expect_redelivery(resumed=True)  # noqa: SLF001

    client._on_publishes([b"t", b"t"], [b"1", b"2"], [PUBLISH_QOS1 | DUP] * 2, [3, 4])  # noqa: SLF001

    assert acked == [3, 4] and host.chunks == []
