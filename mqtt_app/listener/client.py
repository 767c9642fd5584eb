"""One broker connection: a paho-mqtt 2.x client plus the policy around it.

The client never runs its own network thread. The service's selector loop drives it (`loop_read`,
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
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from django.conf import settings
from paho.mqtt import _packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqtt_app.models import ConnectionEvent, ConnectionStatus

logger = logging.getLogger(__name__)

# CONNACK codes that mean "your credentials are refused": retrying soon only hammers the broker.
AUTH_REFUSALS_V3 = {4, 5}
AUTH_REFUSALS_V5 = {134, 135, 138, 140}
STABLE_AFTER = 10.0  # seconds connected before the backoff resets (a flapping link keeps backing off)


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
    def message(self, client: ConnectionClient, message: mqtt.MQTTMessage) -> None: ...


class BufferedClient(mqtt.Client):
    """paho reads each packet with two to five `recv` calls (command byte, length bytes one by one, body).
    Serving those small reads from one 64 KiB `recv` cuts the syscalls per message to a fraction at high
    rates. `_sock_recv` is paho 2.2's private read hook (the version is pinned)."""

    READ_SIZE = 65536

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(self.READ_SIZE)  # raises BlockingIOError when nothing is there
            if not data:
                return data  # the broker closed the connection
            self._rbuf, self._rpos = data, 0
        chunk = self._rbuf[self._rpos : self._rpos + bufsize]
        self._rpos += len(chunk)
        return chunk

    def _sock_close(self) -> None:
        self._rbuf, self._rpos = b"", 0  # bytes of a dead connection must not leak into the next one
        super()._sock_close()

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        """QoS 0/1 PUBLISH without paho's per-message MQTTMessageInfo, which allocates a threading.Condition
        for every received message (a quarter of the read path) that only outgoing messages use. QoS 2
        keeps paho's own PUBREC/PUBREL flow. We always run with manual_ack, so QoS 1 is not acked here."""
        packet = self._in_packet
        result = _packet.decode_publish(packet["command"], packet["packet"], self._protocol)
        if result.qos == 2:
            return super()._handle_publish()
        message = mqtt.MQTTMessage.__new__(mqtt.MQTTMessage)
        message.timestamp, message.state, message.info = time.monotonic(), 0, None
        message.mid, message._topic, message.payload = result.mid, result.topic, result.payload  # noqa: SLF001
        message.dup, message.qos, message.retain = result.dup, result.qos, result.retain
        message.properties = result.properties
        self._handle_on_message(message)
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        # We register no per-topic callbacks, so skip paho's topic matcher: it walks a trie for every
        # message, a fifth of the read path at high rates.
        with self._in_callback_mutex:
            try:
                self.on_message(self, self._userdata, message)
            except Exception:  # noqa: BLE001 - one bad message must not break the connection
                logger.exception("error handling a message on %s", self._client_id)


def backoff_delay(attempt: int, minimum: float, maximum: float) -> float:
    """Capped exponential backoff with "equal jitter": between half and all of min * 2**attempt."""
    ceiling = min(maximum, minimum * (2 ** min(attempt, 30)))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class ConnectionClient:
    def __init__(self, spec: ConnectionSpec, host: Host) -> None:
        self.spec = spec
        self.host = host
        self.status = ConnectionStatus.STARTING
        self.detail = ""
        self.generation = 0  # bumped on every successful connect; acks from an older one are dropped
        self.attempt = 0
        self.closing = False
        self.connected_at = 0.0
        self.last_message_mono = 0.0
        self.silent = False
        self.refusal_delay: float | None = None
        self.subscribed: dict[str, int] = {}
        self.paho: BufferedClient = self._build()

    # --- construction ---------------------------------------------------------------------------
    def _build(self) -> BufferedClient:
        spec = self.spec
        v5 = spec.protocol == "5"
        client = BufferedClient(
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
        clean_start = False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY  # v3.1.1: clean_session=False above
        client.connect_async(
            spec.host, spec.port, keepalive=spec.keepalive, clean_start=clean_start, properties=properties
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_socket_open = lambda _c, _u, sock: self.host.socket_opened(self, sock)
        client.on_socket_close = lambda _c, _u, sock: self.host.socket_closed(self, sock)
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

    def _on_connect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:  # noqa: ANN401
        if reason.is_failure:
            self._refused(reason)
            return
        self.generation += 1
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
    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:  # noqa: ANN401
        self.last_message_mono = time.monotonic()
        if self.silent:
            self.silent = False
            self._set(ConnectionStatus.CONNECTED, "messages resumed", ConnectionEvent.SILENT)
        self.host.message(self, message)

    def ack(self, generation: int, mid: int, qos: int) -> None:
        # After a reconnect the broker resends what was not acked (persistent session); an ack for the
        # previous socket's packet id must not be sent on the new one.
        if generation == self.generation and self.paho.is_connected():
            self.paho.ack(mid, qos)

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
        for path in paths.values():
            if path:
                os.unlink(path)
