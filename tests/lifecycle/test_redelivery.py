"""A resumed session's redelivered copies of messages this listener already queued are acknowledged and not
queued again."""

from __future__ import annotations

import socket

from mqtt_app.listener.client import ConnectionClient, ConnectionSpec, peer_closed
from tests.helpers import wait_for

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


def tcp_link() -> tuple[socket.socket, socket.socket]:
    """Both ends of a real loopback TCP connection: (the listener's end, the broker's end)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        ours = socket.create_connection(server.getsockname())
        theirs, _ = server.accept()
    return ours, theirs


def test_acks_for_a_connection_whose_broker_has_closed_it_wait_for_the_resumed_session():
    # A broker restarted while the loop had not yet read to the end of the old stream: the PUBACKs would be
    # written to a socket nobody reads, and the broker's resent copies stored a second time.
    client, host, acked = resumed_client()
    ours, theirs = tcp_link()
    client.paho.is_connected = lambda: True
    client.paho.socket = lambda: ours
    theirs.sendall(b"\x30\x03\x00\x01t")  # unread bytes ahead of the close, as a frozen listener leaves them
    theirs.close()
    wait_for(lambda: peer_closed(ours), timeout=5, what="the broker's close seen by the kernel")

    client.ack(client.generation, 1, [7, 8])
    client._expect_redelivery(resumed=True)  # noqa: SLF001
    client._on_publishes([b"t", b"t"], [b"1", b"2"], [PUBLISH_QOS1 | DUP] * 2, [7, 8])  # noqa: SLF001

    assert acked == [7, 8] and host.chunks == []
    ours.close()


def test_acks_on_an_open_connection_are_written_at_once():
    client, _host, acked = resumed_client()
    ours, theirs = tcp_link()
    client.paho.is_connected = lambda: True
    client.paho.socket = lambda: ours

    client.ack(client.generation, 1, [5])

    assert acked == [5] and not peer_closed(ours) and client.unacked_forwarded == set()
    ours.close()
    theirs.close()
