"""The listener process: holds the MQTT connections assigned to it and nothing else.

Threads, each with one job:
- main: the selector loop (`Reactor`) driving every paho client, plus a one-second tick (keepalive,
  connect timeouts, silence guard);
- control: heartbeat into Redis every MQTT_LISTENER_HEARTBEAT seconds, re-read the assignment and the
  connection settings, hand changes to the loop; woken at once by the assignment pub/sub channel;
- notify: listens on that channel;
- batcher: every Celery send (ingest batches, status and activity tasks);
- a small connect pool: blocking TCP connects and TLS handshakes.
The listener reads connection settings from the database but never writes it.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.db import connection as db_connection

from mqtt_app import coordination, outbox
from mqtt_app.listener.batcher import INGEST_TASK, Acks, Batcher, Chunk, SendTask
from mqtt_app.listener.client import ConnectionClient, ConnectionSpec
from mqtt_app.listener.inflight import Inflight
from mqtt_app.listener.loop import Reactor
from mqtt_app.listener.spool import Spool
from mqtt_app.models import ConnectionStatus, MqttConnection
from mqtt_app.models.connections import BROKER_FIELDS
from mqtt_app.sparkplug import rebirth

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 15.0  # seconds from socket open to CONNACK
CONNECT_POOL = 8


SPEC_FIELDS = ("pk", *BROKER_FIELDS)


def load_specs(ids: set[int]) -> dict[int, ConnectionSpec]:
    """The settings of these connections (plain tuples: no model instances)."""
    rows = MqttConnection.objects.filter(pk__in=ids).values_list(*SPEC_FIELDS)
    return {row[0]: spec_from(row) for row in rows}


def spec_from(row: tuple) -> ConnectionSpec:
    pk, host, port, protocol, keepalive, client_id, *rest, topics = row
    subscriptions = tuple((str(item["filter"]), int(item.get("qos", 1))) for item in topics or [])
    fields: tuple[Any, ...] = (pk, host, port, protocol, keepalive, client_id or f"mqttmon-{pk}", *rest, subscriptions)
    return ConnectionSpec(*fields)


class SpecCache:
    """Connection settings, re-read only for rows whose `updated_at` moved (the API and admin save())."""

    def __init__(self) -> None:
        self.versions: dict[int, Any] = {}
        self.specs: dict[int, ConnectionSpec] = {}

    def current(self, ids: set[int]) -> dict[int, ConnectionSpec]:
        close_old_connections()
        versions = dict(MqttConnection.objects.filter(pk__in=ids).values_list("pk", "updated_at"))
        stale = {pk for pk, version in versions.items() if self.versions.get(pk) != version}
        fresh = load_specs(stale) if stale else {}
        self.specs = {pk: fresh.get(pk) or self.specs[pk] for pk in versions if pk in fresh or pk in self.specs}
        self.versions = {pk: version for pk, version in versions.items() if pk in self.specs}
        return dict(self.specs)


def _stale(chunk: Chunk, generation: int) -> bool:
    """A chunk of an earlier session holding messages the broker will send again (QoS 0 is never resent)."""
    return chunk.generation < generation and chunk.unacked() > 0


def stored_batches(batch_ids: set[str]) -> set[str]:
    """Those of `batch_ids` a worker stored or took to store split; none when the database cannot say."""
    try:
        return outbox.stored_batches(batch_ids, claimed=True)
    except DatabaseError as exc:  # the copies are queued again: stored twice at worst, never lost
        logger.warning("cannot check which batches a previous session stored: %s", exc)
        db_connection.close()  # the next check opens a new one
        return set()


def open_spool() -> Spool | None:
    """This process's spool (MQTT_SPOOL_DIR), or None when MQTT_SPOOL_MAX_BYTES is 0."""
    max_bytes = int(settings.MQTT_SPOOL_MAX_BYTES)
    return Spool(Path(settings.MQTT_SPOOL_DIR), max_bytes) if max_bytes else None


class ListenerService:
    def __init__(self, listener_id: str | None = None, capacity: int | None = None, send_task: SendTask | None = None):
        self.id = listener_id or f"{socket.gethostname()}-{os.getpid()}"
        self.capacity = capacity or int(settings.MQTT_LISTENER_CAPACITY)
        self.started_at = time.time()
        self.reactor = Reactor()
        self.clients: dict[int, ConnectionClient] = {}
        self.opened_at: dict[int, float] = {}
        self.spool = open_spool()
        self.inflight = Inflight() if send_task is None else None
        self.batcher = Batcher(self.id, self._acks_ready, send_task, spool=self.spool, inflight=self.inflight)
        self.reactor.paused = lambda: self.batcher.full  # a full buffer stops reading, never drops QoS 1/2
        self.pool = ThreadPoolExecutor(max_workers=CONNECT_POOL, thread_name_prefix="mqtt-connect")
        self.redis = coordination.connect()
        self.stop_event = threading.Event()
        self.wake_control = threading.Event()
        self._next_tick = 0.0
        self.spec_cache = SpecCache()
        self.inbox: list[tuple[int, Chunk]] = []
        self.to_release: list[str] = []  # record fields (inflight.py) to delete before the next PUBACKs are written
        self._lost_reconcile_at = 0.0
        self._next_reap = time.monotonic() + outbox.REAP_AFTER / 3

    # --- Host protocol (called by clients in the loop thread, or by the connect pool) -----------
    def socket_opened(self, client: ConnectionClient, sock: Any) -> None:  # noqa: ANN401
        self.opened_at[client.spec.id] = time.monotonic()
        self.reactor.call_soon_threadsafe(lambda: self.reactor.register(sock, client, client.paho.want_write()))

    def socket_closed(self, client: ConnectionClient, sock: Any) -> None:  # noqa: ANN401
        self.opened_at.pop(client.spec.id, None)
        # Unregister before paho closes the fd, so a new socket reusing the number is not confused with it.
        if self.reactor.in_loop():
            self.reactor.unregister(sock)
        else:
            self.reactor.call_soon_threadsafe(lambda: self.reactor.unregister(sock))

    def want_write(self, client: ConnectionClient, sock: Any, wanted: bool) -> None:  # noqa: ANN401
        if self.reactor.in_loop():
            self.reactor.set_write(sock, wanted)
        else:
            self.reactor.call_soon_threadsafe(lambda: self.reactor.set_write(sock, client.paho.want_write()))

    def schedule_connect(self, client: ConnectionClient, delay: float) -> None:
        self.reactor.call_later(delay, lambda: self._connect(client))

    def report(self, client: ConnectionClient, status: str, detail: str, event: str | None = None) -> None:
        logger.info("connection %s: %s %s", client.spec.id, status, detail)
        args = [client.spec.id, status, detail, self.id, time.time()]
        self.batcher.enqueue_control("tasks.status.record_status", args, {"event": event})

    def received(self, client: ConnectionClient, chunk: Chunk) -> None:
        self.inbox.append((client.spec.id, chunk))  # handed over after each loop round

    def session_resumed(self, client: ConnectionClient, generation: int) -> None:
        """Loop thread: the broker resends what the previous session left unacknowledged; the copies of it that
        wait here (inbox and batcher) would be stored twice."""
        cid = client.spec.id
        self.inbox = [(c, chunk) for c, chunk in self.inbox if c != cid or not _stale(chunk, generation)]
        dropped = self.batcher.drop_stale(cid, generation)
        if dropped:
            logger.info("connection %s: %d unqueued messages left to the broker's redelivery", cid, dropped)

    def take_records(self, client: ConnectionClient) -> dict[int, int]:
        if not self.inflight:
            return {}
        taken = self.inflight.take(client.spec.id)
        if taken and not self.batcher.outbox:  # no outbox copy behind the records: trust those of stored batches
            stored = stored_batches({batch for _, batch in taken.values()})
            taken = {mid: entry for mid, entry in taken.items() if entry[1] in stored}
        return {mid: crc for mid, (crc, _) in taken.items()}

    def release_records(self, client: ConnectionClient, batches: list[str], at_once: bool) -> None:
        fields = [f"{client.spec.id}:{batch}" for batch in batches]
        if self.reactor.in_loop():
            self._add_releases(fields, at_once)
        else:  # a socket closed by a reconnect in the connect pool
            self.reactor.call_soon_threadsafe(lambda: self._add_releases(fields, at_once))

    def _add_releases(self, fields: list[str], at_once: bool) -> None:
        self.to_release += fields
        if at_once:
            self._release_records()

    def _release_records(self) -> None:
        fields, self.to_release = self.to_release, []
        if fields and self.inflight:
            self.inflight.release_fields(fields)  # a failure wipes the process's records at the next chance

    def _hand_over(self) -> None:
        if self.inbox:
            inbox, self.inbox = self.inbox, []
            self.batcher.add_chunks(inbox)

    # --- connecting -------------------------------------------------------------------------------
    def _connect(self, client: ConnectionClient) -> None:
        if client.closing or self.clients.get(client.spec.id) is not client:
            return  # stopped or replaced while the retry was pending
        future = self.pool.submit(client.open_socket)
        future.add_done_callback(
            lambda f: self.reactor.call_soon_threadsafe(lambda: self._connect_done(client, f.result()))
        )

    def _connect_done(self, client: ConnectionClient, error: str | None) -> None:
        if error:
            client.connect_failed(error)
        elif client.closing or self.clients.get(client.spec.id) is not client:
            client.paho._sock_close()  # noqa: SLF001 - dropped while its socket was opening

    # --- acks (from the batcher thread) ------------------------------------------------------
    def _acks_ready(self, acks: Acks) -> None:
        self.reactor.call_soon_threadsafe(lambda: self._send_acks(acks))

    def _send_acks(self, acks: Acks) -> None:
        """Loop thread. A batch's record goes before its PUBACKs (a record outliving its acknowledgement could
        make a later message reusing the packet id look like a copy, and lose it), except on a connection whose
        broker numbers its messages in sequence: there it stays until a PINGRESP proves the broker read them, as
        a PUBACK the broker had not read when this process died is lost with the connection (inflight.py). Every
        record so confirmed goes before these PUBACKs too. Should Redis fail, the PUBACKs still go (holding them
        would stall the site's broker) and the process's records are wiped at the next chance."""
        hold: dict[int, int] = {}  # connection → the generation whose PUBACKs carry a PINGREQ
        if self.inflight and acks.recorded:
            qos1 = {cid: generation for cid, generation, qos, _ in acks if qos == 1}
            for cid in acks.recorded:
                client, generation = self.clients.get(cid), qos1.get(cid)
                if client is not None and generation is not None and client.can_hold(generation):
                    hold[cid] = generation
                else:
                    self.to_release.append(f"{cid}:{acks.batch}")
        self._release_records()
        for cid, generation, qos, mids in acks:
            client = self.clients.get(cid)
            if client is None:
                continue
            if qos == 1 and hold.get(cid) == generation:
                del hold[cid]
                if not client.ack(generation, qos, mids, hold=acks.batch, record=acks.records.get(cid, b"")):
                    self.release_records(client, [acks.batch], at_once=True)
            else:
                client.ack(generation, qos, mids)

    # --- assignment ---------------------------------------------------------------------------------
    def apply(self, specs: dict[int, ConnectionSpec], elsewhere: set[int]) -> None:
        """Loop thread: hold exactly `specs`. A connection now assigned to another listener is dropped
        quietly (its new owner reports); one unassigned altogether is reported stopped."""
        for cid in list(self.clients):
            if cid not in specs:
                self._drop(cid, report=cid not in elsewhere)
        for cid, spec in specs.items():
            current = self.clients.get(cid)
            if current is not None and current.spec == spec:
                continue
            if current is not None and current.spec.same_session(spec):
                current.update_topics(spec)
                continue
            if current is not None:
                self._drop(cid, report=False)
            self._start(spec)

    def _start(self, spec: ConnectionSpec) -> None:
        try:
            client = ConnectionClient(spec, self)
        except (ValueError, OSError) as exc:  # e.g. an unreadable CA certificate
            logger.warning("connection %s cannot be configured: %s", spec.id, exc)
            args = [spec.id, ConnectionStatus.ERROR, f"invalid settings: {exc}", self.id, time.time()]
            self.batcher.enqueue_control("tasks.status.record_status", args, {})
            return
        self.clients[spec.id] = client
        self._connect(client)

    def _drop(self, cid: int, report: bool) -> None:
        client = self.clients.pop(cid)
        client.close()
        if report:
            self.report(client, ConnectionStatus.STOPPED, "")

    # --- the one-second tick (loop thread) -------------------------------------------------------------
    def tick(self) -> None:
        now = time.monotonic()
        silence = float(settings.MQTT_SILENCE_TIMEOUT)
        for cid, client in list(self.clients.items()):
            if client.paho.socket() is not None:
                client.paho.loop_misc()
            opened = self.opened_at.get(cid)
            if opened and not client.paho.is_connected() and now - opened > CONNECT_TIMEOUT:
                client.paho._sock_close()  # noqa: SLF001 - no CONNACK: treat as a failed connect
                client.connect_failed(f"no answer from {client.spec.host}:{client.spec.port} to CONNECT")
            if not self.batcher.full:  # a paused read is no silence of the broker's
                client.check_silence(now, silence)
            client.forget_redelivery(now)
        self._release_records()

    def snapshot(self) -> dict[str, Any]:
        held = list(self.clients.items())
        connections = {str(cid): {"status": c.status, "detail": c.detail, "silent": c.silent} for cid, c in held}
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "capacity": self.capacity,
            "started_at": self.started_at,
            "connections": connections,
            "buffered": self.batcher.buffered,
            "redis_ok": self.batcher.redis_ok,
            "spooled_batches": self.spool.pending if self.spool else 0,
            "spool_bytes": self.spool.size if self.spool else 0,
            "queue_full": self.batcher.queue_full,
            "stats": dict(self.batcher.stats),
            "loops": self.reactor.iterations,
        }

    # --- control thread: heartbeat + assignment ---------------------------------------------------------
    def control_tick(self) -> None:
        coordination.write_heartbeat(self.redis, self.id, self.snapshot())
        if self.clients and not self.redis.exists(coordination.last_reconcile_key()):
            self._assignments_lost()
            return
        assignments = coordination.read_assignments(self.redis)
        mine = {cid for cid, owner in assignments.items() if owner == self.id}
        elsewhere = set(assignments) - mine
        specs = self.spec_cache.current(mine)
        self.reactor.call_soon_threadsafe(lambda: self.apply(specs, elsewhere))
        self._check_peers(set(assignments.values()) - {self.id})

    def _assignments_lost(self) -> None:
        """Redis came back without its data (no persistence): no assignment is not "stop everything". Keep the
        connections (dropping them would leave their messages to the brokers' small queues) and ask for a
        reconcile, which writes the assignments again."""
        now = time.monotonic()
        if now >= self._lost_reconcile_at:
            self._lost_reconcile_at = now + 5.0
            logger.warning("Redis holds no assignments (restarted without persistence?): keeping connections")
            self.batcher.enqueue_control("tasks.reconcile.reconcile", [])

    def _check_peers(self, owners: set[str]) -> None:
        """A peer that died (heartbeat expired) still owns connections: ask for a reconcile now rather
        than at the next beat tick, so failover takes about the heartbeat TTL, whatever the interval."""
        if not owners:
            return
        dead = owners - coordination.live_listener_ids(self.redis)
        ttl = max(10.0, 2 * float(settings.MQTT_LISTENER_HEARTBEAT))
        if dead and coordination.claim_failover(self.redis, dead, ttl):
            logger.warning("listener(s) %s stopped heartbeating: requesting a reconcile", ", ".join(sorted(dead)))
            self.batcher.enqueue_control("tasks.reconcile.reconcile", [])

    def _control_loop(self) -> None:
        heartbeat = float(settings.MQTT_LISTENER_HEARTBEAT)
        next_activity = time.monotonic() + heartbeat
        failures = 0
        while not self.stop_event.is_set():
            try:
                self.control_tick()
            except Exception as exc:  # noqa: BLE001 - Redis or the database away: retry at the next beat
                failures += 1
                if failures == 1 or failures % 100 == 0:  # the traceback once, not at every beat of an outage
                    logger.warning("listener %s: heartbeat/assignment failed (%d)", self.id, failures, exc_info=True)
                else:
                    logger.debug("listener %s: heartbeat/assignment failed: %s", self.id, exc)
            else:
                failures = 0
                self._take_commands()
            if time.monotonic() >= next_activity:
                next_activity = time.monotonic() + heartbeat
                self.reactor.call_soon_threadsafe(self._send_activity)
            self._reap_outbox()
            self.wake_control.wait(heartbeat)
            self.wake_control.clear()

    def _take_commands(self) -> None:
        """Control thread: the messages workers asked this listener to publish (Sparkplug B rebirth commands)."""
        try:
            commands = rebirth.take_commands(self.redis, self.id)
        except Exception as exc:  # noqa: BLE001 - Redis away: the control loop must go on (the next beat asks again)
            logger.debug("listener %s: publish commands not read: %s", self.id, exc)
            return
        for command in commands:
            self.reactor.call_soon_threadsafe(functools.partial(self._publish, *command))

    def _publish(self, cid: int, topic: str, payload: bytes) -> None:
        """Loop thread: QoS 0, on the connection if it is up (a command for a connection moved away is dropped)."""
        client = self.clients.get(cid)
        if client is None or not client.paho.is_connected():
            logger.info("connection %s: not connected here; %s not published", cid, topic)
            return
        client.paho.publish(topic, payload, qos=0)
        logger.info("connection %s: published %s", cid, topic)

    def _reap_outbox(self) -> None:
        """Every REAP_AFTER / 3 seconds: send again the batches lost between the queue and a worker."""
        now = time.monotonic()
        if not self.batcher.outbox or now < self._next_reap:
            return
        self._next_reap = now + outbox.REAP_AFTER / 3
        try:
            outbox.reap(self._resend, outbox.stored_batches, self.batcher.backlog)
        except Exception as exc:  # noqa: BLE001 - Redis or the database away: the next round tries again
            logger.debug("outbox reap failed: %s", exc)

    def _resend(self, batch: dict) -> None:
        self.batcher.send_task(
            INGEST_TASK, args=[batch], queue="ingest", retry=False, ignore_result=True, serializer="msgpack",
            task_id=batch["id"], argsrepr="<batch sent again>",
        )  # fmt: skip

    def _send_activity(self) -> None:
        """Loop thread: `last_heartbeat_at` of the connections held (one task per heartbeat, not per message)."""
        held = [cid for cid, client in self.clients.items() if client.paho.is_connected()]
        if held:
            self.batcher.enqueue_control("tasks.status.record_heartbeat", [self.id, time.time(), held])

    def _notify_loop(self) -> None:
        """Wake the control thread within a second of a reconcile changing the assignment."""
        while not self.stop_event.is_set():
            try:
                pubsub = coordination.connect().pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(coordination.changed_channel())
                while not self.stop_event.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message["data"].decode() in (self.id, coordination.ALL_LISTENERS):
                        self.wake_control.set()
            except Exception:  # noqa: BLE001 - Redis away: the heartbeat re-reads the assignment anyway
                logger.debug("assignment channel unavailable", exc_info=True)
                self.stop_event.wait(1.0)

    # --- process lifecycle ---------------------------------------------------------------------------------
    def request_stop(self, *_: Any) -> None:  # noqa: ANN401 - signal handler signature
        self.stop_event.set()
        self.wake_control.set()
        self.reactor.wake()

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        logger.info("listener %s starting (capacity %s)", self.id, self.capacity)
        self.batcher.start()
        threads = [
            threading.Thread(target=self._control_loop, name="mqtt-control", daemon=True),
            threading.Thread(target=self._notify_loop, name="mqtt-notify", daemon=True),
        ]
        for thread in threads:
            thread.start()
        while not self.stop_event.is_set():
            self.reactor.run_once(max_wait=0.5)
            self._hand_over()
            if time.monotonic() >= self._next_tick:
                self._next_tick = time.monotonic() + 1.0
                self.tick()
        self.shutdown()

    def shutdown(self) -> None:
        """Flush and acknowledge what was received, disconnect cleanly, leave the coordination state, and ask for a
        reconcile so another listener takes the connections over at once."""
        logger.info("listener %s stopping", self.id)
        self._hand_over()
        self.batcher.stop()
        deadline = time.monotonic() + 3.0
        self.reactor.run_once(0)  # the last acknowledgements
        for client in list(self.clients.values()):
            client.close()
            self.report(client, ConnectionStatus.RECONNECTING, f"listener {self.id} stopped; awaiting reassignment")
        while self.reactor.socket_count() and time.monotonic() < deadline:
            self.reactor.run_once(max_wait=0.1)
        try:
            coordination.remove_heartbeat(self.redis, self.id)
        except Exception:  # noqa: BLE001 - it expires on its own
            logger.warning("could not remove the heartbeat of %s", self.id)
        self.batcher.enqueue_control("tasks.reconcile.reconcile", [])
        self.batcher.flush_control()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.reactor.close()
        logger.info("listener %s stopped", self.id)
