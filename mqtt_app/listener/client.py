"""One broker connection: a paho-mqtt 2.x client plus the policy around it.

The client never runs its own network thread. The service's selector loop drives it (`read_ready`,
`loop_write`, `loop_misc`) and every method here runs in that loop thread, except `open_socket()`,
which runs in a small connect pool because TCP connect and the TLS handshake block.

Policy (after Home Assistant's MQTT client): our own reconnect loop with capped exponential backoff and
jitter, a refused login parks the connection in `error` for MQTT_AUTH_RETRY_DELAY, subscriptions are sent
again on every connect, and a connection that used to receive but went silent is flagged and resubscribed.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import ssl
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from django.conf import settings
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqtt_app.listener.batcher import Chunk, chunk_of
from mqtt_app.listener.inflight import unpack
from mqtt_app.listener.reader import ReaderClient, StockClient, client_class
from mqtt_app.models import ConnectionEvent, ConnectionStatus

logger = logging.getLogger(__name__)

# CONNACK codes that mean "your credentials are refused": retrying soon only hammers the broker.
AUTH_REFUSALS_V3 = {4, 5}
AUTH_REFUSALS_V5 = {134, 135, 138, 140}
MAX_MQTT_PACKET = 268_435_455
PACKET_OVERHEAD = 65_536 + 1024  # the longest topic name and properties a PUBLISH may carry besides its payload
# How long after a reconnect the redelivered copies of already queued messages are looked for (brokers resend
# them right after CONNACK).
REDELIVERY_WINDOW = 60.0
TCP_INFO = getattr(socket, "TCP_INFO", None)
TCP_ESTABLISHED = 1  # the first byte of struct tcp_info, tcpi_state
STABLE_AFTER = 10.0  # seconds connected before the backoff resets (a flapping link keeps backing off)
LAST_MID = 65535
# Batches whose records wait for a PINGRESP at most: a broker that stops answering PINGREQs while it keeps sending
# must not grow them without bound (the oldest then go unconfirmed: at worst a duplicate, never a loss).
MAX_HELD = 100


@dataclass(frozen=True)
class ConnectionSpec:
    """What a listener needs to know about one connection (read from the database, never written)."""

    id: int
    host: str
    port: int
    protocol: str = "3.1.1"
    keepalive: int = 60
    client_id: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    tls_enabled: bool = False
    tls_ca_certs: str = field(default="", repr=False)
    tls_client_cert: str = field(default="", repr=False)
    tls_client_key: str = field(default="", repr=False)
    tls_insecure: bool = False
    topics: tuple[tuple[str, int], ...] = ()

    def same_session(self, other: ConnectionSpec) -> bool:
        """Whether `other` differs only in its topics (those change without reconnecting)."""
        return {**vars(self), "topics": ()} == {**vars(other), "topics": ()}


class Host(Protocol):
    """What a client needs from the service that drives it."""

    def socket_opened(self, client: ConnectionClient, sock: Any) -> None: ...  # noqa: ANN401
    def socket_closed(self, client: ConnectionClient, sock: Any) -> None: ...  # noqa: ANN401
    def want_write(self, client: ConnectionClient, sock: Any, wanted: bool) -> None: ...  # noqa: ANN401
    def schedule_connect(self, client: ConnectionClient, delay: float) -> None: ...
    def report(self, client: ConnectionClient, status: str, detail: str, event: str | None = None) -> None: ...
    def received(self, client: ConnectionClient, chunk: Chunk) -> None: ...
    def session_resumed(self, client: ConnectionClient, generation: int) -> None: ...
    # What other processes queued and did not acknowledge (inflight.py), taken at each connect: packet id → CRC.
    def take_records(self, client: ConnectionClient) -> dict[int, int]: ...
    # Records this client held past their PUBACKs that may go now (the broker confirmed, or the socket closed).
    def release_records(self, client: ConnectionClient, batches: list[str], at_once: bool) -> None: ...


def decode_topics(raw: list[bytes]) -> list[str]:
    """Topic names as text: one decode for the whole list (topics cannot hold NUL, the separator); one by
    one when some topic is not valid UTF-8 (kept, visibly) or holds a NUL anyway (the worker rejects it)."""
    try:
        topics = b"\x00".join(raw).decode().split("\x00")
        if len(topics) == len(raw):
            return topics
    except UnicodeDecodeError:
        pass
    return [topic.decode("utf-8", "backslashreplace") for topic in raw]


def peer_closed(sock: Any) -> bool:  # noqa: ANN401
    """Whether the broker's end of this TCP connection is already closed (FIN or RST received), as the kernel
    knows before the loop has read up to the end of the stream. Linux only; elsewhere never."""
    try:
        state = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 1)
    except (AttributeError, OSError, TypeError):
        return False
    return bool(state) and state[0] != TCP_ESTABLISHED


def backoff_delay(attempt: int, minimum: float, maximum: float) -> float:
    """Capped exponential backoff with "equal jitter": between half and all of min * 2**attempt."""
    ceiling = min(maximum, minimum * (2 ** min(attempt, 30)))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class ConnectionClient:
    def __init__(self, spec: ConnectionSpec, host: Host) -> None:
        self.spec = spec
        self.host = host
        self.status: str = ConnectionStatus.STARTING
        self.detail = ""
        self.generation = 0  # bumped on every successful connect; acks from an older one are dropped
        # Redelivery without duplicates: packet ids of messages handed to the queue whose PUBACK could not be sent
        # (the connection dropped first), and, once the broker resumed the session, those it will send again
        # flagged DUP: such a copy is acknowledged and not forwarded a second time. `expect_dup` maps a packet id
        # to the CRC-32 of its payload when another process queued it (inflight.py), to None when this one did.
        self.unacked_forwarded: set[int] = set()
        self.expect_dup: dict[int, int | None] = {}
        self.expect_dup_until = 0.0
        # Whether the broker numbers its messages one after another (the packet id after 65,535 is 1, no gap):
        # such a broker reuses an id only 65,535 messages later, so a batch's records may outlive its PUBACKs
        # until a PINGRESP proves the broker read them (`held`: PINGREQ number, batch id). inflight.py says why.
        self.next_mid = 0
        self.ids_counted = False
        self.held: list[tuple[int, str, bytes]] = []
        # What held records knew when the socket closed before their PINGRESP (packet id → CRC): the broker may
        # not have read those PUBACKs, and resends the messages to the resumed session.
        self.unconfirmed: dict[int, int] = {}
        self.attempt = 0
        self.closing = False
        self.connected_at = 0.0
        self.last_message_mono = 0.0
        self.silent = False
        self.refusal_delay: float | None = None
        self.subscribed: dict[str, int] = {}
        self.paho: ReaderClient | StockClient = self._build()

    # --- construction ---------------------------------------------------------------------------
    def _build(self) -> ReaderClient | StockClient:
        spec = self.spec
        v5 = spec.protocol == "5"
        client = client_class()(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=spec.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if spec.username:
            client.username_pw_set(spec.username, spec.password or None)
        if spec.tls_enabled:
            _configure_tls(client, spec)
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = int(getattr(settings, "MQTT_SESSION_EXPIRY", 86400))
            # Brokers then keep larger messages from us (the listener drops them anyway: mqtt_app/listener/batcher.py).
            properties.MaximumPacketSize = min(MAX_MQTT_PACKET, int(settings.MQTT_MAX_PAYLOAD_BYTES) + PACKET_OVERHEAD)
        clean_start = False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY  # v3.1.1: clean_session=False above
        client.connect_async(
            spec.host, spec.port, keepalive=spec.keepalive, clean_start=clean_start, properties=properties
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        if isinstance(client, ReaderClient):
            client.on_publishes = self._on_publishes
        client.on_socket_open = lambda _c, _u, sock: self.host.socket_opened(self, sock)
        client.on_socket_close = lambda _c, _u, sock: self._socket_closed(sock)
        client.on_pong = self._on_pong
        client.on_socket_register_write = lambda _c, _u, sock: self.host.want_write(self, sock, True)
        client.on_socket_unregister_write = lambda _c, _u, sock: self.host.want_write(self, sock, False)
        return client

    # --- connecting -----------------------------------------------------------------------------
    def open_socket(self) -> str | None:
        """Blocking TCP connect + TLS handshake + CONNECT packet (runs in the connect pool).
        Returns None on success or the reason it failed."""
        try:
            self.paho.reconnect()
        except (OSError, ssl.SSLError, ValueError) as exc:
            return f"cannot reach {self.spec.host}:{self.spec.port}: {exc}"
        except Exception as exc:  # noqa: BLE001 - whatever it is, the retry loop must go on
            logger.exception("connection %s: unexpected error while connecting", self.spec.id)
            return f"cannot connect to {self.spec.host}:{self.spec.port}: {exc.__class__.__name__}"
        return None

    def connect_failed(self, reason: str) -> None:
        """Loop thread: the socket could not be opened."""
        if self.closing:
            return
        self._set(ConnectionStatus.RECONNECTING, reason)
        self._retry_later()

    def _retry_later(self, delay: float | None = None) -> None:
        if delay is None:
            delay = backoff_delay(
                self.attempt, float(settings.MQTT_RECONNECT_MIN_DELAY), float(settings.MQTT_RECONNECT_MAX_DELAY)
            )
            self.attempt += 1
        self.host.schedule_connect(self, delay)

    def _on_connect(self, _client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:  # noqa: ANN401
        if reason.is_failure:
            self._refused(reason)
            return
        self.generation += 1
        self.next_mid, self.ids_counted = 0, False  # proven again on each connection (the broker may be another)
        self._expect_redelivery(bool(getattr(flags, "session_present", False)))
        self.connected_at = time.monotonic()
        self.silent = False
        self.subscribed = {}
        self.subscribe_to(dict(self.spec.topics))
        self._set(ConnectionStatus.CONNECTED, "", ConnectionEvent.CONNECTED)

    def _refused(self, reason: Any) -> None:  # noqa: ANN401
        code = reason.value
        # paho 2 reports MQTT 3.1.1 return codes 4 and 5 as the v5 codes 134 and 135.
        auth = code in AUTH_REFUSALS_V5 or (self.spec.protocol != "5" and code in AUTH_REFUSALS_V3)
        text = f"the broker refused the connection: {reason.getName()} (code {code})"
        if auth:
            retry = float(settings.MQTT_AUTH_RETRY_DELAY)
            text += f"; retrying in {retry:.0f} s"
        self._set(ConnectionStatus.ERROR, text)
        self.refusal_delay = float(settings.MQTT_AUTH_RETRY_DELAY) if auth else None

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:  # noqa: ANN401
        if self.closing:
            return
        refusal_delay, self.refusal_delay = self.refusal_delay, None
        if self.status == ConnectionStatus.ERROR:
            # Refused at CONNACK: keep the broker's reason as the status detail.
            self._retry_later(refusal_delay)
            return
        if self.connected_at and time.monotonic() - self.connected_at >= STABLE_AFTER:
            self.attempt = 0
        self.connected_at = 0.0
        self._set(ConnectionStatus.RECONNECTING, f"connection lost: {reason.getName()}")
        self._retry_later()

    # --- subscriptions --------------------------------------------------------------------------
    def subscribe_to(self, wanted: dict[str, int]) -> None:
        """Subscribe/unsubscribe the difference between what is subscribed and `wanted`."""
        gone = [topic for topic in self.subscribed if topic not in wanted]
        new = [(topic, qos) for topic, qos in wanted.items() if self.subscribed.get(topic) != qos]
        if gone:
            self.paho.unsubscribe(gone)
        if new:
            self.paho.subscribe(new)
        self.subscribed = dict(wanted)

    def update_topics(self, spec: ConnectionSpec) -> None:
        self.spec = spec
        if self.paho.is_connected():
            self.subscribe_to(dict(spec.topics))

    # --- messages and health --------------------------------------------------------------------
    def _expect_redelivery(self, resumed: bool) -> None:
        """A new session generation. Resumed: the broker sends again every message not acknowledged, flagged DUP;
        those already handed to the queue, by this process or by one that held the connection before it (a
        crash: their records, inflight.py), are skipped (`expect_dup`); those still waiting in the batcher are
        dropped there (their redelivered copy takes their place). Not resumed: the broker forgot them, and what
        the batcher holds is their only copy: it is kept."""
        inherited = self.host.take_records(self)
        if resumed:
            self.expect_dup = {**inherited, **self.unconfirmed, **dict.fromkeys(self.unacked_forwarded)}
        else:
            self.expect_dup = {}
        self.unacked_forwarded, self.unconfirmed = set(), {}
        self.expect_dup_until = time.monotonic() + REDELIVERY_WINDOW
        if resumed:
            self.host.session_resumed(self, self.generation)

    def _queued_before(self, mid: int, payload: bytes | bytearray) -> bool:
        """Whether this DUP copy's first delivery was queued already (its record is then used up)."""
        if mid not in self.expect_dup:
            return False
        crc = self.expect_dup[mid]
        if crc is not None and zlib.crc32(payload) != crc:
            return False  # another message that reuses the packet id
        del self.expect_dup[mid]
        return True

    def _skip_redelivered(self, topics: list, payloads: list, headers: list[int], mids: list[int]) -> tuple:
        """Drop the DUP copies of messages already handed to the queue, acknowledging them now."""
        keep, again = [], []
        for index, (header, mid) in enumerate(zip(headers, mids, strict=True)):
            if header & 0x08 and self._queued_before(mid, payloads[index]):
                again.append(mid)
            else:
                keep.append(index)
        if again:
            self.paho.send_acks(again, 1)
            logger.info(
                "connection %s: %d redelivered messages were already queued: acknowledged", self.spec.id, len(again)
            )
        return tuple([column[i] for i in keep] for column in (topics, payloads, headers, mids))

    def _count_ids(self, mids: list[int]) -> None:
        """The packet ids of new (not DUP) QoS 1/2 messages, in arrival order: `ids_counted` once they ran one after
        another through 65,535 and on; any other step (a gap, a lower id) clears it."""
        first, count = mids[0], len(mids)
        if first == self.next_mid and first + count <= LAST_MID and mids == list(range(first, first + count)):
            self.next_mid = first + count  # the usual case, one comparison in C
            return
        expected, counted = self.next_mid, self.ids_counted
        for mid in mids:
            if mid != expected:
                counted = False
            elif mid == LAST_MID:
                counted = True
            expected = mid + 1 if mid < LAST_MID else 1
        if self.ids_counted and not counted and self.held:  # the sequence broke: held records go too
            done, self.held = [batch for _, batch, _ in self.held], []
            self.host.release_records(self, done, at_once=False)
        self.next_mid, self.ids_counted = expected, counted

    def _on_publishes(self, topics: list[bytes], payloads: list[bytes], headers: list[int], mids: list[int]) -> None:
        """The QoS 0/1 messages of one read (the reader's fast path), as columns."""
        if self.expect_dup:
            topics, payloads, headers, mids = self._skip_redelivered(topics, payloads, headers, mids)
            if not headers:
                return
        count = len(headers)
        first = headers[0]
        if headers.count(first) == count:  # the usual case: one kind of message
            qos, retain = [(first >> 1) & 3] * count, [bool(first & 1)] * count
            if first & 0x0E == 0x02:  # QoS 1, not DUP
                self._count_ids(mids)
        else:
            qos, retain = [(h >> 1) & 3 for h in headers], [bool(h & 1) for h in headers]
            new = [mid for header, mid in zip(headers, mids, strict=True) if header & 0x0E == 0x02]
            if new:
                self._count_ids(new)
        chunk = Chunk(self.generation, time.time(), decode_topics(topics), payloads, qos, retain, mids)
        self._received(chunk)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:  # noqa: ANN401
        """One message from paho's own path: QoS 2, or every message with MQTT_FAST_READER=false."""
        if message.qos == 1 and message.dup and self._queued_before(message.mid, message.payload):
            self.paho.send_acks([message.mid], 1)
            return
        if message.qos and not message.dup:
            self._count_ids([message.mid])  # QoS 2 comes at its PUBREL, out of line: the count restarts (safe)
        self._received(chunk_of(self.generation, [message], time.time()))

    def _received(self, chunk: Chunk) -> None:
        self.last_message_mono = time.monotonic()
        if self.silent:
            self.silent = False
            self._set(ConnectionStatus.CONNECTED, "messages resumed", ConnectionEvent.SILENT)
        self.host.received(self, chunk)

    def can_hold(self, generation: int) -> bool:
        """Whether a batch's records may outlive its PUBACKs here, until the broker confirms it read them."""
        return self.ids_counted and self._acks_go(generation)

    def _acks_go(self, generation: int) -> bool:
        # After a reconnect the broker resends what was not acked (persistent session); an ack for the
        # previous socket's packet id must not be sent on the new one. Nor on a socket whose broker has gone
        # (a restart): it would never be read, and the copy the broker resends would be stored twice.
        return generation == self.generation and self.paho.is_connected() and not peer_closed(self.paho.socket())

    def ack(self, generation: int, qos: int, mids: list[int], hold: str = "", record: bytes = b"") -> bool:
        """Write the PUBACKs; with `hold` (a batch id), a PINGREQ after them, and keep that batch's record (its
        packed content: `record`) until its PINGRESP. Returns whether the record is held."""
        if self._acks_go(generation):
            ping = self.paho.send_acks(mids, qos, ping=bool(hold))
            if ping:
                self.held.append((ping, hold, record))
                if len(self.held) > MAX_HELD:
                    self.host.release_records(self, [self.held.pop(0)[1]], at_once=False)
                return True
        elif qos == 1 and generation == self.generation:
            self.unacked_forwarded.update(mids)  # sent on the next connect's redelivery check
        elif qos == 1 and time.monotonic() < self.expect_dup_until:
            self.expect_dup.update(dict.fromkeys(mids))
        return False

    def _on_pong(self, pongs: int) -> None:
        if self.held and self.held[0][0] <= pongs:
            done = [batch for ping, batch, _ in self.held if ping <= pongs]
            self.held = self.held[len(done) :]
            self.host.release_records(self, done, at_once=False)

    def _socket_closed(self, sock: Any) -> None:  # noqa: ANN401
        if self.held:
            # No PINGRESP will come. The records go before anything is written on a new socket; what they knew
            # stays here, for the copies this broker sends the resumed session (`_expect_redelivery`).
            for _, _, record in self.held:
                self.unconfirmed.update(unpack(record))
            done, self.held = [batch for _, batch, _ in self.held], []
            self.host.release_records(self, done, at_once=True)
        self.host.socket_closed(self, sock)

    def forget_redelivery(self, now: float) -> None:
        if self.expect_dup and now > self.expect_dup_until:
            self.expect_dup = {}

    def check_silence(self, now: float, timeout: float) -> None:
        if self.silent or self.status != ConnectionStatus.CONNECTED or not self.last_message_mono:
            return
        since = max(self.last_message_mono, self.connected_at)
        if now - since >= timeout:
            self.silent = True
            detail = f"silent for {now - since:.0f} s: resubscribed"
            self._set(ConnectionStatus.CONNECTED, detail, ConnectionEvent.SILENT)
            self.subscribed = {}
            self.subscribe_to(dict(self.spec.topics))

    # --- closing --------------------------------------------------------------------------------
    def close(self) -> None:
        """Disconnect cleanly (the persistent session stays on the broker)."""
        self.closing = True
        if self.paho.is_connected():
            self.paho.disconnect()
        else:
            self.paho._sock_close()  # noqa: SLF001 - a half-open socket (CONNECT sent, no CONNACK yet)

    def _set(self, status: str, detail: str, event: str | None = None) -> None:
        if (status, detail) == (self.status, self.detail) and event is None:
            return  # the same failure again: no new status task, no log line
        self.status, self.detail = status, detail
        self.host.report(self, status, detail, event)


def _configure_tls(client: mqtt.Client, spec: ConnectionSpec) -> None:
    """paho wants file paths; the PEMs live in the database. The files exist only while the SSL context
    loads them (tls_set reads them at once), with owner-only permissions."""
    paths: dict[str, str | None] = {"ca": None, "cert": None, "key": None}
    try:
        for name, pem in (("ca", spec.tls_ca_certs), ("cert", spec.tls_client_cert), ("key", spec.tls_client_key)):
            if pem.strip():
                handle, path = tempfile.mkstemp(prefix=f"mqttmon-{spec.id}-", suffix=".pem")
                with os.fdopen(handle, "w") as out:
                    out.write(pem)
                paths[name] = path
        client.tls_set(
            ca_certs=paths["ca"],
            certfile=paths["cert"],
            keyfile=paths["key"],
            cert_reqs=ssl.CERT_NONE if spec.tls_insecure else ssl.CERT_REQUIRED,
        )
        client.tls_insecure_set(spec.tls_insecure)
    finally:
        for written in paths.values():
            if written:
                os.unlink(written)
