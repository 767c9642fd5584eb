"""The listener's own MQTT read path (reader.py), fed raw packets through a socket pair: no broker."""

from __future__ import annotations

import socket
import struct

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import _ConnectionState
from paho.mqtt.properties import VariableByteIntegers

from mqtt_app.listener.batcher import Chunk
from mqtt_app.listener.client import ConnectionClient, ConnectionSpec, decode_topics
from mqtt_app.listener.reader import AGAIN, CONN_LOST, PROTOCOL, SUCCESS, ReaderClient

BINARY = bytes(range(256))
varint = VariableByteIntegers.encode  # MQTT's variable-length integer


@pytest.fixture(autouse=True)
def _fast_reader(settings):
    """This file tests the fast reader itself, whatever MQTT_FAST_READER the run has."""
    settings.MQTT_FAST_READER = True


def publish(
    topic: bytes, payload: bytes, qos: int = 0, mid: int = 0, retain: bool = False, properties: bytes | None = None
) -> bytes:
    """A PUBLISH packet; `properties` (MQTT 5) is the property bytes, without their length."""
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", mid) if qos else b"")
    if properties is not None:
        body += varint(len(properties)) + properties
    body += payload
    return bytes([0x30 | qos << 1 | retain]) + varint(len(body)) + body


class Rig:
    """A ReaderClient on one end of a socket pair, as if connected; the test plays the broker."""

    def __init__(self, protocol: int = mqtt.MQTTv311) -> None:
        self.client = ReaderClient(mqtt.CallbackAPIVersion.VERSION2, client_id="t", protocol=protocol, manual_ack=True)
        self.ours, self.broker = socket.socketpair()
        self.ours.setblocking(False)
        self.broker.settimeout(2)
        self.client._sock = self.ours
        self.client._state = _ConnectionState.MQTT_CS_CONNECTED
        self.reads: list[tuple[list, list, list, list]] = []
        self.client.on_publishes = lambda *columns: self.reads.append(columns)
        self.messages: list[mqtt.MQTTMessage] = []
        self.client.on_message = lambda _c, _u, message: self.messages.append(message)

    def feed(self, data: bytes) -> int:
        self.broker.sendall(data)
        return self.client.read_ready()

    def published(self) -> list[tuple[bytes, bytes, int, int]]:
        """(topic, payload, fixed-header byte, packet id) of every message handed over, in order."""
        return [row for columns in self.reads for row in zip(*columns, strict=True)]

    def written(self) -> bytes:
        """What the client wrote to the broker."""
        return self.broker.recv(65536)

    def close(self) -> None:
        self.client._sock = None
        self.ours.close()
        self.broker.close()


@pytest.fixture
def rig():
    made: list[Rig] = []

    def make(protocol: int = mqtt.MQTTv311) -> Rig:
        made.append(Rig(protocol))
        return made[-1]

    yield make
    for each in made:
        each.close()


STREAM = [
    (publish(b"site/a", b"21.5"), (b"site/a", b"21.5", 0x30, 0)),
    (publish(b"site/bin", BINARY, qos=1, mid=7), (b"site/bin", BINARY, 0x32, 7)),  # 2-byte remaining length
    (publish(b"site/r", b"", qos=1, mid=65535, retain=True), (b"site/r", b"", 0x33, 65535)),
    (publish(b"t", BINARY * 70, qos=1, mid=1), (b"t", BINARY * 70, 0x32, 1)),  # 3-byte remaining length
    (publish("capteur/é".encode(), b"\x00", qos=0), ("capteur/é".encode(), b"\x00", 0x30, 0)),
]


def test_qos0_and_qos1_publishes_of_one_read_are_handed_over_at_once_in_order(rig):
    r = rig()
    assert r.feed(b"".join(packet for packet, _ in STREAM)) == AGAIN
    assert len(r.reads) == 1
    assert r.published() == [expected for _, expected in STREAM]
    assert r.messages == []  # paho's MQTTMessage path was not used


@pytest.mark.parametrize("cut", range(1, 40))
def test_a_packet_cut_anywhere_by_the_end_of_a_read_is_completed_by_the_next(rig, cut):
    r = rig()
    stream = b"".join(packet for packet, _ in STREAM[:3])
    assert r.feed(stream[:cut]) == AGAIN
    assert r.feed(stream[cut:]) == AGAIN
    assert r.published() == [expected for _, expected in STREAM[:3]]


def test_a_stream_fed_byte_by_byte_and_a_large_packet_over_many_reads(rig):
    r = rig()
    stream = b"".join(packet for packet, _ in STREAM[:3])
    for index in range(len(stream)):
        r.feed(stream[index : index + 1])
    big_payload = BINARY * 1200  # 300 KiB: a 3-byte length, read in many pieces
    big = publish(b"big", big_payload, qos=1, mid=3)
    for start in range(0, len(big), 50_000):
        r.feed(big[start : start + 50_000])
    assert r.published() == [expected for _, expected in STREAM[:3]] + [(b"big", big_payload, 0x32, 3)]


def test_mqtt5_properties_are_skipped(rig):
    r = rig(mqtt.MQTTv5)
    user_property = b"\x26" + struct.pack("!H", 1) + b"k" + struct.pack("!H", 1) + b"v"
    r.feed(
        publish(b"v5/a", b"{}", qos=1, mid=2, properties=b"\x01\x01" + user_property)  # payload format, user prop
        + publish(b"v5/b", BINARY, properties=b"")
        + publish(b"v5/c", b"x", qos=1, mid=4, properties=b"\x02" + struct.pack("!I", 60))  # message expiry
    )
    assert r.published() == [(b"v5/a", b"{}", 0x32, 2), (b"v5/b", BINARY, 0x30, 0), (b"v5/c", b"x", 0x32, 4)]


def test_qos2_keeps_pahos_flow_and_is_completed_by_send_acks(rig):
    r = rig()
    r.feed(publish(b"q2", BINARY, qos=2, mid=9))
    assert r.written() == b"\x50\x02\x00\x09"  # PUBREC, by paho
    assert r.reads == [] and r.messages == []  # delivered on PUBREL, not before
    r.feed(b"\x62\x02\x00\x09")  # PUBREL
    (message,) = r.messages
    assert (message.topic, message.payload, message.qos, message.mid) == ("q2", BINARY, 2, 9)
    r.client.send_acks([9], 2)
    assert r.written() == b"\x70\x02\x00\x09"  # PUBCOMP


def test_other_packets_go_to_paho_between_the_publishes_around_them(rig):
    r = rig()
    r.client._ping_t = 123.0  # waiting for a PINGRESP
    r.client._last_bytes_received = 0.0
    r.feed(publish(b"a", b"1") + b"\xd0\x00" + publish(b"b", b"2", qos=1, mid=5))
    assert r.client._ping_t == 0  # paho handled the PINGRESP
    assert r.client._last_bytes_received > 0  # the keepalive clock moved
    assert [len(columns[0]) for columns in r.reads] == [1, 1]  # handed over before and after it
    assert r.published() == [(b"a", b"1", 0x30, 0), (b"b", b"2", 0x32, 5)]


@pytest.mark.parametrize(
    "packet",
    [
        b"\x30\xff\xff\xff\xff\x01",  # a remaining length of five bytes
        publish(b"", b"x"),  # MQTT 3.1.1 forbids an empty topic (paho's check)
        b"\x32\x03\x00\x01a",  # QoS 1 without its packet id
        b"\x36\x05\x00\x01a\x00\x01",  # QoS 3
    ],
)
def test_malformed_packets_end_the_connection(rig, packet):
    r = rig()
    assert r.feed(publish(b"ok", b"1") + packet) == PROTOCOL
    assert r.published() == [(b"ok", b"1", 0x30, 0)]  # what came before is handed over


def test_a_closed_socket_is_a_lost_connection(rig):
    r = rig()
    r.broker.shutdown(socket.SHUT_WR)
    assert r.client.read_ready() == CONN_LOST


def test_acks_of_many_messages_are_one_write(rig, monkeypatch):
    r = rig()
    sends: list[bytes] = []
    real_send = r.client._sock_send
    monkeypatch.setattr(r.client, "_sock_send", lambda data: sends.append(bytes(data)) or real_send(data))
    r.client.send_acks([1, 2, 300], 1)
    expected = b"\x40\x02\x00\x01\x40\x02\x00\x02\x40\x02\x01\x2c"
    assert sends == [expected] and r.written() == expected


def test_topics_are_decoded_at_once_and_bad_ones_kept_visibly():
    assert decode_topics([b"a/b", "é/c".encode()]) == ["a/b", "é/c"]
    assert decode_topics([b"a", b"b\xff"]) == ["a", "b\\xff"]
    assert decode_topics([b"a\x00b", b"c"]) == ["a\x00b", "c"]  # NUL is the separator: decoded one by one


class Host:
    def __init__(self) -> None:
        self.chunks: list[Chunk] = []

    def received(self, _client: ConnectionClient, chunk: Chunk) -> None:
        self.chunks.append(chunk)

    def report(self, *_args: object, **_kwargs: object) -> None:
        pass

    def socket_closed(self, *_args: object) -> None:
        pass

    def want_write(self, *_args: object) -> None:
        pass


def connected_client(host: Host) -> tuple[ConnectionClient, socket.socket]:
    client = ConnectionClient(ConnectionSpec(1, "127.0.0.1", 1, client_id="t"), host)
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    broker.settimeout(2)
    client.paho._sock = ours
    client.paho._state = _ConnectionState.MQTT_CS_CONNECTED
    client.generation = 2
    return client, broker


def test_a_connection_hands_over_chunks_in_columns_and_its_silence_clock_moves():
    host = Host()
    client, broker = connected_client(host)
    broker.sendall(publish(b"a", b"1", qos=1, mid=4) + publish(b"b", BINARY, retain=True))
    client.paho.read_ready()
    (chunk,) = host.chunks
    assert (chunk.generation, chunk.topics, chunk.payloads) == (2, ["a", "b"], [b"1", BINARY])
    assert (chunk.qos, chunk.retain, chunk.mids) == ([1, 0], [False, True], [4, 0])
    assert client.last_message_mono > 0
    broker.close()


def test_acks_are_sent_only_on_the_connection_generation_they_were_received_on():
    client, broker = connected_client(Host())
    client.ack(1, 1, [5, 6])  # received before a reconnect: the new session must not get them
    client.ack(2, 1, [7])
    assert broker.recv(100) == b"\x40\x02\x00\x07"
    broker.close()


def test_a_busy_socket_yields_after_its_read_budget_and_continues_on_the_next_turn(rig):
    r = rig()
    r.client.READ_SIZE, r.client.READ_BUDGET = 64, 128  # two reads a turn
    stream = b"".join(publish(b"site/n", str(n).encode() * 20, qos=1, mid=n + 1) for n in range(10))
    r.broker.sendall(stream)
    assert r.client.read_ready() == SUCCESS  # budget spent: the loop comes back to this socket
    assert 0 < len(r.published()) < 10
    while r.client.read_ready() == SUCCESS:
        pass
    assert [mid for *_, mid in r.published()] == list(range(1, 11))
