"""A resumed session's redelivered copies of messages this listener already queued are acknowledged and not
queued again."""

from __future__ import annotations

import socket
import zlib
from types import SimpleNamespace

import pytest

from mqtt_app.listener import inflight
from mqtt_app.listener.client import MAX_HELD, ConnectionClient, ConnectionSpec, peer_closed
from tests.helpers import wait_for

PUBLISH_QOS1 = 0x32
DUP = 0x08


class Host:
    def __init__(self, records: dict | None = None) -> None:
        self.chunks: list = []
        self.records = records or {}  # what another process queued and did not acknowledge: mid → payload CRC
        self.released: list = []

    def socket_opened(self, client, sock): ...
    def socket_closed(self, client, sock): ...
    def want_write(self, client, sock, wanted): ...
    def schedule_connect(self, client, delay): ...
    def report(self, client, status, detail, event=None): ...

    def received(self, client, chunk) -> None:
        self.chunks.append(chunk)

    def session_resumed(self, client, generation) -> None: ...

    def take_records(self, client) -> dict:
        taken, self.records = self.records, {}
        return taken

    def release_records(self, client, batches, at_once) -> None:
        self.released.append((batches, at_once))


def resumed_client(records: dict | None = None, resumed: bool = True) -> tuple[ConnectionClient, Host, list[int]]:
    host = Host(records)
    client = ConnectionClient(ConnectionSpec(1, "127.0.0.1", 1, client_id="mqttmon-test"), host)
    acked: list[int] = []
    # no socket here: record what would be written
    client.paho.send_acks = lambda mids, qos, ping=False: acked.extend(mids) or 0
    client._expect_redelivery(resumed=resumed)  # noqa: SLF001 - the CONNACK (session present or not)
    return client, host, acked


def test_copies_a_crashed_process_queued_are_acknowledged_and_not_queued_again():
    # Another process queued 5 and 6 and died before their PUBACKs; 7 was still in its buffer.
    client, host, acked = resumed_client({5: zlib.crc32(b"1"), 6: zlib.crc32(b"2")})

    client._on_publishes([b"hall/a"] * 3, [b"1", b"2", b"3"], [PUBLISH_QOS1 | DUP] * 3, [5, 6, 7])  # noqa: SLF001

    assert acked == [5, 6]
    assert [chunk.payloads for chunk in host.chunks] == [[b"3"]]


def test_a_redelivered_message_whose_payload_differs_from_the_record_is_queued():
    client, host, acked = resumed_client({5: zlib.crc32(b"1")})

    client._on_publishes([b"hall/a"], [b"9"], [PUBLISH_QOS1 | DUP], [5])  # noqa: SLF001

    assert acked == [] and [chunk.payloads for chunk in host.chunks] == [[b"9"]]


def test_only_dup_flagged_copies_are_matched_and_only_once():
    client, host, acked = resumed_client({5: zlib.crc32(b"1")})

    client._on_publishes([b"hall/a"], [b"1"], [PUBLISH_QOS1], [5])  # noqa: SLF001 - not a redelivery
    client._on_publishes([b"hall/a"], [b"1"], [PUBLISH_QOS1 | DUP], [5])  # noqa: SLF001
    client._on_publishes([b"hall/a"], [b"1"], [PUBLISH_QOS1 | DUP], [5])  # noqa: SLF001 - matched already

    assert acked == [5] and len(host.chunks) == 2


def test_a_session_the_broker_did_not_resume_skips_nothing():
    client, host, acked = resumed_client({5: zlib.crc32(b"1")}, resumed=False)

    client._on_publishes([b"hall/a"], [b"1"], [PUBLISH_QOS1 | DUP], [5])  # noqa: SLF001

    assert acked == [] and len(host.chunks) == 1


def test_the_records_are_forgotten_once_the_redelivery_is_over():
    client, _host, _ = resumed_client({5: 1})

    client.forget_redelivery(client.expect_dup_until + 1)

    assert client.expect_dup == {}


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


def publish(client: ConnectionClient, mids: list[int], header: int = PUBLISH_QOS1) -> None:
    client._on_publishes([b"t"] * len(mids), [b"1"] * len(mids), [header] * len(mids), mids)  # noqa: SLF001


def test_packet_ids_count_as_sequential_once_they_ran_through_65535_and_on():
    client, _host, _ = resumed_client(resumed=False)
    publish(client, list(range(60000, 65535)))
    assert not client.ids_counted  # a broker reusing freed ids could have shown this much too
    publish(client, [65535, 1, 2])
    assert client.ids_counted
    publish(client, [3, 4])
    publish(client, [7], PUBLISH_QOS1 | DUP)  # a redelivered copy: not a new id
    assert client.ids_counted and client.next_mid == 5


@pytest.mark.parametrize("after", [[6], [2], [5, 4]])
def test_a_gap_or_a_lower_packet_id_means_the_ids_are_not_counted(after):
    client, _host, _ = resumed_client(resumed=False)
    publish(client, [65534, 65535, 1, 2, 3, 4])
    publish(client, after)
    assert not client.ids_counted


def test_a_reconnect_counts_the_ids_again():
    client, _host, _ = resumed_client(resumed=False)
    publish(client, [65535, 1])
    client._on_connect(client.paho, None, None, SimpleNamespace(is_failure=False), None)  # noqa: SLF001
    assert not client.ids_counted and client.next_mid == 0


def open_client(ids_counted: bool) -> tuple[ConnectionClient, Host, socket.socket, socket.socket]:
    """A client whose paho writes to a real loopback connection (the broker's end returned too)."""
    host = Host()
    client = ConnectionClient(ConnectionSpec(1, "127.0.0.1", 1, client_id="mqttmon-test"), host)
    ours, theirs = tcp_link()
    ours.setblocking(False)
    client.paho._sock = ours  # noqa: SLF001
    client.paho.is_connected = lambda: True
    client.paho.socket = lambda: ours
    client.ids_counted = ids_counted
    return client, host, ours, theirs


def test_on_a_counted_connection_the_record_stays_until_the_pingresp_after_the_pubacks():
    client, host, ours, theirs = open_client(ids_counted=True)
    assert client.can_hold(client.generation)

    assert client.ack(client.generation, 1, [5, 6], hold="batch-1") is True

    assert theirs.recv(100) == b"\x40\x02\x00\x05" + b"\x40\x02\x00\x06" + b"\xc0\x00"  # PUBACKs, PINGREQ
    assert host.released == []  # the broker may not have read them
    theirs.sendall(b"\xd0\x00")  # PINGRESP: it has
    wait_for(lambda: client.paho.read_ready() and host.released, timeout=5, what="the PINGRESP read")
    assert host.released == [(["batch-1"], False)] and client.held == []
    ours.close()
    theirs.close()


def test_records_held_when_the_socket_closes_go_at_once_and_their_copies_are_skipped_once_resumed():
    client, host, ours, theirs = open_client(ids_counted=True)
    client.ack(client.generation, 1, [5, 6], hold="batch-1", record=inflight.pack([5, 6], [b"1", b"2"]))

    client.paho._sock_close()  # noqa: SLF001 - the connection lost before the PINGRESP

    assert host.released == [(["batch-1"], True)] and client.held == []
    acked: list[int] = []
    client.paho.send_acks = lambda mids, qos, ping=False: acked.extend(mids) or 0
    client._expect_redelivery(resumed=True)  # noqa: SLF001 - the broker may not have read those PUBACKs
    client._on_publishes([b"t"] * 3, [b"1", b"9", b"3"], [PUBLISH_QOS1 | DUP] * 3, [5, 6, 7])  # noqa: SLF001

    assert acked == [5]  # 6's payload differs: another message reusing the id, queued
    assert [chunk.payloads for chunk in host.chunks] == [[b"9", b"3"]]
    theirs.close()


def test_a_broker_that_does_not_answer_pingreqs_makes_the_oldest_records_go():
    client, host, ours, theirs = open_client(ids_counted=True)
    for number in range(MAX_HELD + 2):
        client.ack(client.generation, 1, [number + 1], hold=f"batch-{number}")

    assert len(client.held) == MAX_HELD
    assert host.released == [(["batch-0"], False), (["batch-1"], False)]
    ours.close()
    theirs.close()


def test_on_an_uncounted_connection_nothing_is_held():
    client, _host, ours, theirs = open_client(ids_counted=False)
    assert not client.can_hold(client.generation)
    ours.close()
    theirs.close()
