"""A steady stream of numbered QoS 1 messages from one paho client, in a thread of its own. A message counts as
sent once the broker acknowledged it (PUBACK): what the product must then never lose.

Hostile payloads ride along on the same client, after chosen numbers, so they land in the same batches as
their neighbours; an oversized one goes from a client of its own (a paho client that sends a multi-megabyte
message and then more on the same connection was seen to be disconnected).
"""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt

from .payloads import SEQ_TOPIC, numbered


def connect(host: str, port: int, client_id: str, timeout: float = 30.0) -> mqtt.Client:
    """A connected client with its network loop running; retried while the broker is not listening."""
    deadline = time.monotonic() + timeout
    while True:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        client.max_queued_messages_set(0)
        try:
            client.connect(host, port, keepalive=30)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        client.loop_start()
        return client


def publish_alone(host: str, port: int, topic: str, payload: bytes) -> bool:
    """Publish one message from a client of its own and wait for its PUBACK."""
    client = connect(host, port, f"faults-alone-{uuid.uuid4().hex[:8]}")
    try:
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=30)
        return info.is_published()
    finally:
        client.loop_stop()
        client.disconnect()


class Stream:
    """`count` numbered messages at `rate` a second; `extras[n]` are (topic, payload) published right after n."""

    def __init__(
        self,
        host: str,
        port: int,
        count: int,
        rate: float,
        extras: dict[int, list[tuple[str, bytes]]] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.count = count
        self.rate = rate
        self.extras = extras or {}
        self.client_id = f"faults-publisher-{uuid.uuid4().hex[:8]}"
        self.infos: list[mqtt.MQTTMessageInfo] = []
        self.extra_infos: list[mqtt.MQTTMessageInfo] = []
        self.published = 0
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.error: BaseException | None = None
        self._burst_until = 0
        self._resume = threading.Event()
        self._resume.set()
        self._paused = threading.Event()
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None
        self._thread = threading.Thread(target=self._run, name="faults-publisher", daemon=True)

    # --- what the scenario reads ---------------------------------------------------------------------
    def acked(self) -> set[int]:
        """The numbers the broker acknowledged."""
        with self._lock:
            return {seq for seq, info in enumerate(self.infos) if info.is_published()}

    def done(self) -> bool:
        return self.finished_at is not None

    def wait(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return self.done()

    # --- control -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._client = connect(self.host, self.port, self.client_id)
        self.started_at = time.monotonic()
        self._thread.start()

    def burst(self, count: int) -> int:
        """Send the next `count` messages at once (a device catching up), then go on at the rate; returns the
        number of messages published once the burst is out."""
        self._burst_until = self.published + count
        return self._burst_until

    def pause(self, timeout: float = 30.0) -> None:
        """Stop publishing, wait for every PUBACK, disconnect: a device that went quiet (so a broker restart
        cannot make the device itself resend, and duplicate, a message the broker had already taken)."""
        self._resume.clear()
        if not self._paused.wait(timeout):
            raise RuntimeError("the publisher did not pause")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._all_acked():
            time.sleep(0.02)
        client, self._client = self._client, None
        if client is not None:
            client.loop_stop()
            client.disconnect()

    def resume(self) -> None:
        self._client = connect(self.host, self.port, self.client_id)
        self._paused.clear()
        self._resume.set()

    def _all_acked(self) -> bool:
        with self._lock:
            return all(info.is_published() for info in self.infos)

    # --- the thread ---------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._publish_all()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not self._all_acked():
                time.sleep(0.02)
        except BaseException as exc:  # noqa: BLE001 - reported by the scenario
            self.error = exc
        finally:
            self.finished_at = time.monotonic()

    def _publish_all(self) -> None:
        clock = time.monotonic()
        for seq in range(self.count):
            if not self._resume.is_set():
                paused_at = time.monotonic()
                self._paused.set()
                self._resume.wait()
                clock += time.monotonic() - paused_at  # the pause does not make the rest a burst
            client = self._client
            assert client is not None
            info = client.publish(SEQ_TOPIC, numbered(seq), qos=1)
            with self._lock:
                self.infos.append(info)
            for topic, payload in self.extras.get(seq, ()):
                self.extra_infos.append(client.publish(topic, payload, qos=1))
            self.published = seq + 1
            if seq + 1 < self._burst_until:
                continue
            if seq + 1 == self._burst_until:
                clock = time.monotonic() - (seq + 1) / self.rate  # the rate again, from now
            delay = clock + (seq + 1) / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the device, not synchronising anything
