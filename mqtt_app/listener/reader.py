"""The paho client's read path replaced by one that decodes PUBLISH packets straight from the socket's bytes.

paho reads a packet with two to five `recv` calls, then builds a dict, a struct-unpacked result, an
MQTTMessage and (for MQTT 5) a Properties object per message, and we acknowledge each QoS 1 message with its
own queued packet and `send`. At thousands of messages a second that was most of the listener's CPU. Here:
- `read_ready()` reads what the socket holds in 64 KiB `recv`s and splits it into packets itself; a packet
  cut by the end of a read waits (its pieces are joined once, when the rest has come);
- a QoS 0/1 PUBLISH becomes four list entries (topic, payload, fixed-header byte, packet id), handed over
  in columns for the whole read through `on_publishes`;
- every other packet (CONNACK, SUBACK, PINGRESP, QoS 2 and its PUBREL, DISCONNECT, a PUBLISH we do not
  fully understand) goes through paho's own handler, exactly as paho would have read it, so the protocol
  state machine (connect, subscribe, keepalive, QoS 2) stays paho's;
- `send_acks()` queues the PUBACKs (or PUBCOMPs) of many messages as one write.

It overrides or uses private paho-mqtt methods and attributes (`_sock_recv`, `_packet_handle`, `_in_packet`,
`_handle_publish`, `_handle_on_message`, `_sock_close`, `_send_pingreq`, `_handle_pingresp`, `_out_packet`,
`_last_bytes_received`, `_packet`...), so paho-mqtt is pinned and tests/lifecycle/test_paho_pin.py fails on any
other version. MQTT_FAST_READER=false uses `StockClient` instead: paho's own read path through its public API.
Why and how: docs/listener.md.
"""

from __future__ import annotations

import logging
import ssl
import struct
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from django.conf import settings
from paho.mqtt import _packet
from paho.mqtt.client import MQTT_LOG_DEBUG, MQTT_LOG_ERR, MQTTErrorCode
from paho.mqtt.exception import MalformedPacket

logger = logging.getLogger(__name__)

AGAIN = MQTTErrorCode.MQTT_ERR_AGAIN
SUCCESS = MQTTErrorCode.MQTT_ERR_SUCCESS
CONN_LOST = MQTTErrorCode.MQTT_ERR_CONN_LOST
PROTOCOL = MQTTErrorCode.MQTT_ERR_PROTOCOL

# The paho-mqtt version the private methods and attributes used here were read and tested against.
PAHO_CHECKED = "2.2.0"

PUBACK = 0x40
PUBCOMP = 0x70
PINGREQ = b"\xc0\x00"

# columns of one read's PUBLISH packets: topics (raw bytes), payloads, fixed-header bytes, packet ids (0: QoS 0)
OnPublishes = Callable[[list[bytes], list[bytes], list[int], list[int]], None]


def _remaining_length(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """MQTT's variable-length integer at `pos`: (value, position after it); (-1, 0) if `data` ends inside it,
    (-2, 0) if it is longer than four bytes (a protocol error)."""
    value = shift = 0
    while pos < end:
        byte = data[pos]
        pos += 1
        value |= (byte & 127) << shift
        if byte < 128:
            return value, pos
        shift += 7
        if shift == 28:
            return -2, 0
    return -1, 0


class PingCounter(mqtt.Client):
    """Counts the PINGREQs sent and PINGRESPs read on the current socket. A broker handles a connection's packets
    in order, so the n-th PINGRESP proves it has read everything written before the n-th PINGREQ (the PUBACKs
    before it: mqtt_app/listener/inflight.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(*args, **kwargs)
        self.pings_sent = 0
        self.pongs = 0
        self.on_pong: Callable[[int], None] | None = None

    def _send_pingreq(self) -> MQTTErrorCode:  # paho's keepalive pings count too: their answers come in line
        rc = super()._send_pingreq()
        if rc == SUCCESS:
            self.pings_sent += 1
        return rc

    def _handle_pingresp(self) -> MQTTErrorCode:
        rc = super()._handle_pingresp()
        if rc == SUCCESS:
            self.pongs += 1
            if self.on_pong is not None:
                self.on_pong(self.pongs)
        return rc

    def _sock_close(self) -> None:
        self.pings_sent = self.pongs = 0  # a PINGRESP answers a PINGREQ of its own socket only
        super()._sock_close()


class ReaderClient(PingCounter):
    READ_SIZE = 65536
    READ_BUDGET = 1 << 18  # bytes read from one socket (about a thousand messages) before the others get a turn

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(*args, **kwargs)
        self.on_publishes: OnPublishes | None = None
        self._tail: list[bytes] = []  # the bytes of an incomplete packet, as read
        self._tail_size = 0
        self._tail_need = 0  # the incomplete packet's whole size (0: unknown, its length bytes are cut too)

    # --- reading ---------------------------------------------------------------------------------
    def read_ready(self) -> MQTTErrorCode:
        """Read what the socket holds and handle every complete packet. Returns MQTT_ERR_AGAIN once the
        socket is drained, MQTT_ERR_SUCCESS when READ_BUDGET ran out first (more may wait, possibly in an
        SSL buffer that epoll cannot see), or the error that ends the connection."""
        budget = self.READ_BUDGET
        while budget > 0:
            if self._sock is None:
                return AGAIN  # closed by a packet's handler (a broker's DISCONNECT): paho reported it
            try:
                data = self._sock_recv(self.READ_SIZE)  # paho's: SSL want-read/write become BlockingIOError
            except BlockingIOError:
                return AGAIN
            except OSError as err:
                self._easy_log(MQTT_LOG_ERR, "failed to receive on socket: %s", err)
                return CONN_LOST
            if not data:
                return CONN_LOST
            size = len(data)
            budget -= size
            self._last_bytes_received = time.monotonic()  # paho's keepalive clock (loop thread only)
            if self._tail:
                self._tail.append(data)
                self._tail_size += len(data)
                if self._tail_size < self._tail_need:
                    continue  # a large packet: join its pieces once, not at every read
                data = b"".join(self._tail)
                self._tail, self._tail_size, self._tail_need = [], 0, 0
            rc = self._handle_data(data)
            if rc:
                return rc
            if size < self.READ_SIZE and not self._ssl:
                # Drained: spare the recv that would only raise. The selector is level-triggered, so bytes
                # arriving now wake the loop again. (Not for TLS: a read returns one record at most.)
                return AGAIN
        return SUCCESS

    def _handle_data(self, data: bytes) -> MQTTErrorCode:
        """Handle every complete packet in `data`; keep an incomplete one at the end for the next read."""
        topics: list[bytes] = []
        payloads: list[bytes] = []
        headers: list[int] = []
        mids: list[int] = []
        v5 = self._protocol == mqtt.MQTTv5
        end = len(data)
        pos = 0
        while pos < end:
            command = data[pos]
            start = pos + 2
            if start > end:
                break
            length = data[pos + 1]
            if length > 127 and start < end and data[start] < 128:  # two length bytes: most payloads
                length = (length & 127) | (data[start] << 7)
                start += 1
            elif length > 127:
                length, start = _remaining_length(data, pos + 1, end)
                if length == -1:
                    break
                if length == -2:
                    self._flush(topics, payloads, headers, mids)
                    return PROTOCOL
            stop = start + length
            if stop > end:
                self._tail_need = stop - pos
                break
            if command & 0xF4 == 0x30 and length > 2:  # PUBLISH, QoS 0 or 1
                topic_end = start + 2 + ((data[start] << 8) | data[start + 1])
                mid = 0
                at = topic_end
                if command & 0x02:
                    mid = (data[at] << 8) | data[at + 1] if at + 2 <= stop else 0
                    at += 2
                if v5:  # skip the properties (we ask for no topic aliases: the broker sends none)
                    properties, after = _remaining_length(data, at, stop)
                    at = after + properties if properties >= 0 else stop + 1
                if topic_end > start + 2 and at <= stop and (mid or not command & 0x02):
                    topics.append(data[start + 2 : topic_end])
                    payloads.append(data[at:stop])
                    headers.append(command)
                    mids.append(mid)
                    pos = stop
                    continue
            # Anything else is paho's (after the publishes before it: order and generation stay right).
            self._flush(topics, payloads, headers, mids)
            topics, payloads, headers, mids = [], [], [], []
            rc = self._paho_packet(command, data[start:stop])
            if rc or self._sock is None:
                return rc
            pos = stop
        self._flush(topics, payloads, headers, mids)
        if pos < end:
            self._tail, self._tail_size = [data[pos:]], end - pos
        return SUCCESS

    def _flush(self, topics: list[bytes], payloads: list[bytes], headers: list[int], mids: list[int]) -> None:
        if topics and self.on_publishes is not None:
            try:
                self.on_publishes(topics, payloads, headers, mids)
            except Exception:  # noqa: BLE001 - the connection must go on (the messages are not acked)
                logger.exception("error handling messages on %s", self._client_id)

    def _paho_packet(self, command: int, body: bytes) -> MQTTErrorCode:
        """One complete packet through paho's handler, as its own `_packet_read` would have passed it."""
        self._in_packet = {
            "command": command,
            "have_remaining": 1,
            "remaining_count": [],
            "remaining_mult": 1,
            "remaining_length": len(body),
            "packet": bytearray(body),
            "to_process": 0,
            "pos": 0,
        }
        try:
            rc = self._packet_handle()
        except MalformedPacket as exc:
            self._easy_log(MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
            rc = PROTOCOL
        except Exception:  # noqa: BLE001 - e.g. a callback: reconnect (nothing unacked is lost) rather
            # than leave the stream half read
            logger.exception("error handling a packet on %s: reconnecting", self._client_id)
            rc = PROTOCOL
        self._in_packet = {
            "command": 0,
            "have_remaining": 0,
            "remaining_count": [],
            "remaining_mult": 1,
            "remaining_length": 0,
            "packet": bytearray(b""),
            "to_process": 0,
            "pos": 0,
        }
        return rc

    def _sock_close(self) -> None:
        self._tail, self._tail_size, self._tail_need = [], 0, 0  # a dead connection's bytes must not leak
        super()._sock_close()

    # --- paho's own path: QoS 2, and a PUBLISH the fast path left to paho ---------------------------
    def _handle_publish(self) -> MQTTErrorCode:
        """QoS 0/1 without paho's per-message MQTTMessageInfo (a threading.Condition only outgoing messages
        use). QoS 2 keeps paho's PUBREC/PUBREL flow. We run with manual_ack: nothing is acked here."""
        packet = self._in_packet
        result = _packet.decode_publish(packet["command"], packet["packet"], self._protocol)
        if result.qos not in (0, 1):
            return super()._handle_publish()  # QoS 2, or paho's protocol error for 3
        message = mqtt.MQTTMessage(result.mid, result.topic)
        message.dup, message.qos, message.retain = result.dup, result.qos, result.retain
        message.payload, message.properties = result.payload, result.properties
        self._handle_on_message(message)
        return SUCCESS

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        # We register no per-topic callbacks: skip paho's topic matcher.
        callback = self.on_message
        if callback is None:
            return
        with self._in_callback_mutex:
            try:
                callback(self, self._userdata, message)
            except Exception:  # noqa: BLE001 - one bad message must not break the connection
                logger.exception("error handling a message on %s", self._client_id)

    # --- acknowledging --------------------------------------------------------------------------
    def send_acks(self, mids: list[int], qos: int, ping: bool = False) -> int:
        """PUBACK (QoS 1) or PUBCOMP (QoS 2) for each packet id, queued as one write, followed by a PINGREQ if
        `ping`: then returns its number, whose PINGRESP proves the broker has read them. The two-byte form (no
        reason code) means success in MQTT 5 too."""
        if not mids and not ping:
            return 0
        command = PUBACK if qos == 1 else PUBCOMP
        prefix = (command << 24) | (2 << 16)
        packet = struct.pack(f">{len(mids)}I", *[prefix | mid for mid in mids])
        if ping:
            packet += PINGREQ
            self.pings_sent += 1
        # paho's `_packet_queue` would ask the loop for a writable event first (two epoll_ctl and a select
        # round per batch); write at once instead: paho keeps what the socket does not take for later.
        size = len(packet)
        self._out_packet.append(
            {"command": command, "mid": 0, "qos": 0, "pos": 0, "to_process": size, "packet": packet, "info": None}
        )
        self.loop_write()
        return self.pings_sent if ping else 0


class StockClient(PingCounter):
    """paho-mqtt's own read path, through its public API only (MQTT_FAST_READER=false): the listener's fallback
    when the fast reader is in doubt, e.g. on a paho-mqtt version it was not checked against. Every message
    arrives through `on_message`, one packet per `loop_read`; the selector is level-triggered, so bytes still
    waiting wake the loop again."""

    def read_ready(self) -> MQTTErrorCode:
        """The reader's contract: AGAIN once done for now, SUCCESS when more may wait where the selector cannot
        see it (an SSL buffer). An error is never returned: `loop_read` has already handled it (socket closed,
        `on_disconnect` called), and handling it twice would schedule two reconnects."""
        if self.loop_read() != SUCCESS:
            return AGAIN
        sock = self.socket()
        return SUCCESS if isinstance(sock, ssl.SSLSocket) and sock.pending() else AGAIN

    def send_acks(self, mids: list[int], qos: int, ping: bool = False) -> int:
        for mid in mids:
            self.ack(mid, qos)
        if ping and self._send_pingreq() == SUCCESS:
            return self.pings_sent
        return 0


def client_class() -> type[ReaderClient] | type[StockClient]:
    """The paho client the listener builds for each connection (MQTT_FAST_READER)."""
    return ReaderClient if settings.MQTT_FAST_READER else StockClient
