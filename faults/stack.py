"""One scenario's world: private services, the product's processes pointed at them, the connection row, and
the ledger of what the database holds.

Private: a Mosquitto (the site's broker), a redis-server (listener registry, channel layer, result backend and,
for the Redis broker, the queue), a RabbitMQ vhost for the amqp broker, and optionally a PostgreSQL cluster.
The product runs as in production: `manage.py mqtt_listener` with its default id (hostname-pid, so a
restarted listener is a new one) and `celery worker` on the Procfile's queues, with the product's default
timings. Beat's only job here, the reconcile tick, is sent by `Beat` (the same task on the same queue) rather
than by a beat process: one Django process less on a two-core machine.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from pathlib import Path

import dj_database_url
import redis as redis_lib
from celery import Celery
from django.db import connections
from kombu import Exchange, Queue

from . import payloads
from .procs import MosquittoBroker, PostgresCluster, Process, RabbitVhost, RedisServer, manage_py, wait_for

RECONCILE_TASK = "tasks.reconcile.reconcile"
SITE = "fault suite"  # the site of every scenario's connection


def _db_errors() -> tuple[type[BaseException], ...]:
    from django.db import DatabaseError, InterfaceError

    return (DatabaseError, InterfaceError)


class Beat(threading.Thread):
    """Sends the reconcile task to the control queue now and every `interval` seconds, like beat. The queue
    is never declared from here: the worker declared it, with the product's own arguments (a quorum queue on
    RabbitMQ), and a declaration with other arguments would be refused."""

    def __init__(self, broker_url: str, interval: float) -> None:
        super().__init__(name="faults-beat", daemon=True)
        self.app = Celery("faults-beat", broker=broker_url, set_as_current=False)
        self.app.conf.broker_connection_timeout = 2
        self.interval = interval
        self.stopping = threading.Event()
        self.queue = Queue("control", Exchange("control", no_declare=True), routing_key="control", no_declare=True)

    def tick(self) -> bool:
        try:
            # A Queue object, not its name: Celery would otherwise declare it (its stubs say str only).
            self.app.send_task(RECONCILE_TASK, queue=self.queue, expires=self.interval, retry=False)  # type: ignore[arg-type]
            return True
        except Exception:  # noqa: BLE001 - the broker is away: the next tick tries again, as beat does
            return False

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self.tick()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
        self.app.close()


class Stack:
    def __init__(
        self,
        folder: Path,
        base_env: dict[str, str],
        *,
        broker: str = "redis",
        max_queued: int | None = 0,
        persistence: bool = False,
        redis_aof: str | None = None,
        private_postgres: bool = False,
        reconcile_interval: float = 30.0,
    ) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.tag = uuid.uuid4().hex[:8]
        self.broker = broker
        self.mosquitto = MosquittoBroker(folder / "mosquitto", max_queued=max_queued, persistence=persistence)
        self.redis = RedisServer(folder / "redis", aof=redis_aof)
        self.vhost = RabbitVhost(f"faults-{self.tag}") if broker == "amqp" else None
        self.postgres = PostgresCluster() if private_postgres else None
        self.base_env = base_env
        self.reconcile_interval = reconcile_interval
        self.db_alias = "default"
        self.application_name = f"faults-{self.tag}"
        self.workers: list[Process] = []
        self.listeners: list[Process] = []
        self.beat: Beat | None = None
        self.connection_id = 0  # the scenario's MqttConnection, once created
        self._kicked_at = 0.0

    # --- set-up ------------------------------------------------------------------------------------------
    @property
    def broker_url(self) -> str:
        return self.vhost.url if self.vhost else self.redis.url

    @property
    def worker(self) -> Process:
        return self.workers[-1]

    @property
    def listener(self) -> Process:
        return self.listeners[-1]

    def env(self) -> dict[str, str]:
        env = dict(self.base_env)
        env.update(
            REDIS_URL=self.redis.url,
            CELERY_BROKER_URL=self.broker_url,
            CELERY_RESULT_BACKEND=self.redis.url,
            LOG_DIR=str(self.folder / "logs"),
            MQTT_SPOOL_DIR=str(self.folder / "spool"),
            PYTHONUNBUFFERED="1",
        )
        env.pop("CHANNEL_REDIS_URL", None)
        if self.postgres is not None:
            env["DATABASE_URL"] = self.postgres.url
        if env.get("DATABASE_URL", "").startswith("postgres"):
            # Names the product's sessions, so a fault ends those and no one else's.
            url = re.sub(r"[?&]application_name=[^&]*", "", env["DATABASE_URL"])
            env["DATABASE_URL"] = f"{url}{'&' if '?' in url else '?'}application_name={self.application_name}"
        return env

    def start(self) -> None:
        self.mosquitto.start()
        self.redis.start()
        if self.vhost is not None:
            self.vhost.create()
        if self.postgres is not None:
            self.postgres.create()
            done = Process(manage_py("migrate", "--noinput", "-v", "0"), self.env(), self.folder / "migrate.log")
            if done.popen.wait(timeout=300) != 0:
                raise RuntimeError(f"migrate failed on the private cluster:\n{done.output()[-3000:]}")
            self.db_alias = register_database(f"faults_{self.tag}", self.postgres.url)
        self.connection_id = self._create_connection()
        self.start_worker()
        self.start_listener()
        # The first tick once both are up (as the API's start does): the worker has declared its queues and the
        # listener heartbeats, so reconcile has someone to assign the connection to.
        wait_for(lambda: " ready." in _running(self.worker).output(), timeout=60, interval=0.1, what="the worker")
        wait_for(self._listener_heartbeats, timeout=60, interval=0.1, what="the listener's first heartbeat")
        self.beat = Beat(self.broker_url, self.reconcile_interval)
        wait_for(self._kick_until_connected, timeout=60, interval=0.2, what="the listener to connect to the broker")
        self.beat.start()

    def _listener_heartbeats(self) -> bool:
        _running(self.listener)
        client = redis_lib.Redis.from_url(self.redis.url)
        try:
            return any(client.scan_iter(match="*:listener:*", count=100))
        finally:
            client.close()

    def _kick_until_connected(self) -> bool:
        """Connected yet? Otherwise a reconcile tick every few seconds (a lost one must not cost a beat interval)."""
        if self._connected():
            return True
        now = time.monotonic()
        if now - self._kicked_at > 5.0 and self.beat is not None and self.beat.tick():
            self._kicked_at = now
        return False

    def _create_connection(self) -> int:
        from mqtt_app.models import MqttConnection, Site

        _open(self.db_alias)
        site, _ = Site.objects.using(self.db_alias).get_or_create(name=SITE)
        row = MqttConnection.objects.using(self.db_alias).create(
            site=site,
            name=f"faults-{self.tag}",
            host=self.mosquitto.host,
            port=self.mosquitto.port,
            client_id=f"faults-{self.tag}",
            topics=payloads.SUBSCRIPTIONS,
        )
        return row.pk

    def _connected(self) -> bool:
        from mqtt_app.models import MqttConnection

        try:
            _open(self.db_alias)
            status = (
                MqttConnection.objects.using(self.db_alias).values_list("status", flat=True).get(pk=self.connection_id)
            )
        except _db_errors():
            connections[self.db_alias].close()
            return False
        return status == "connected"

    def start_worker(self) -> Process:
        from .procs import worker_command

        index = len(self.workers)
        name = f"faults{index}-{self.tag}@%h"
        process = Process(worker_command(name), self.env(), self.folder / f"worker-{index}.log")
        self.workers.append(process)
        return process

    def start_listener(self) -> Process:
        index = len(self.listeners)
        process = Process(manage_py("mqtt_listener"), self.env(), self.folder / f"listener-{index}.log")
        self.listeners.append(process)
        return process

    # --- what the database and the queue hold ------------------------------------------------------------
    def counts(self) -> tuple[int, set[int]] | None:
        """(rows, the distinct numbers) of the numbered stream's readings; None while the database is away."""
        from mqtt_app.models import TelemetryReading

        try:
            _open(self.db_alias)
            values = list(
                TelemetryReading.objects.using(self.db_alias)
                .filter(
                    topic__connection_id=self.connection_id,
                    topic__topic=payloads.SEQ_TOPIC,
                    metric=payloads.SEQ_METRIC,
                )
                .values_list("value", flat=True)
            )
        except _db_errors():
            connections[self.db_alias].close()
            return None
        return len(values), {int(v) for v in values if v is not None}

    def queue_depth(self) -> int | None:
        """Ingest batches in the broker, waiting or taken but not acknowledged; None if it cannot be read."""
        try:
            if self.vhost is not None:
                return self.vhost.ready("ingest")
            client = redis_lib.Redis.from_url(self.redis.url, socket_timeout=2, socket_connect_timeout=2)
            try:
                return int(client.llen("ingest")) + int(client.hlen("unacked"))
            finally:
                client.close()
        except Exception:  # noqa: BLE001 - the broker is down
            return None

    def broker_state(self) -> str:
        """What the queue's broker holds, for a report of lost messages."""
        try:
            if self.vhost is not None:
                return f"ingest: {self.vhost.ready('ingest')} ready"
            client = redis_lib.Redis.from_url(self.redis.url, socket_timeout=2, socket_connect_timeout=2)
            try:
                oldest = client.zrange("unacked_index", 0, 0, withscores=True)
                age = f", the oldest delivered {time.time() - float(oldest[0][1]):.0f} s ago" if oldest else ""
                return f"ingest: {client.llen('ingest')} waiting, {client.hlen('unacked')} unacknowledged{age}"
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001 - only a diagnostic
            return f"broker state unreadable: {exc}"

    def terminate_sessions(self) -> int:
        """pg_terminate_backend of every session of the product's processes; how many there were."""
        with _open(self.db_alias).cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                [self.application_name],
            )
            return int(cursor.fetchone()[0])

    def logs(self) -> list[Path]:
        return [p.log_path for p in (*self.workers, *self.listeners)]

    # --- tear-down --------------------------------------------------------------------------------------
    def close(self, keep_rows: bool = False) -> None:
        if self.beat is not None:
            self.beat.stop()
        for process in (*self.listeners, *self.workers):
            process.stop(timeout=10)
        if self.connection_id and not keep_rows and self.postgres is None:
            self._delete_connection()
        self.mosquitto.stop()
        self.redis.stop()
        if self.vhost is not None:
            self.vhost.delete()
        if self.postgres is not None:
            if self.db_alias != "default":
                unregister_database(self.db_alias)
            self.postgres.destroy()

    def _delete_connection(self) -> None:
        from mqtt_app.models import MqttConnection

        try:
            _open(self.db_alias)
            MqttConnection.objects.using(self.db_alias).filter(pk=self.connection_id).delete()
        except _db_errors():
            connections[self.db_alias].close()


def other_active_connections() -> list[str]:
    """Active connections of the database other than the fault suite's. A scenario's reconcile would assign
    them to its listener too, which would then connect to their brokers under their client ids."""
    from mqtt_app.models import MqttConnection

    return [str(c) for c in MqttConnection.objects.filter(is_active=True).exclude(site__name=SITE)]


def deactivate_leftovers() -> int:
    """Connections of runs that died before cleaning up: no listener should take them over."""
    from mqtt_app.models import MqttConnection

    return MqttConnection.objects.filter(site__name=SITE, is_active=True).update(is_active=False)


def _open(alias: str):  # noqa: ANN202 - a DatabaseWrapper
    """The alias's connection, opened with connect(): Django's test guard (ensure_connection) refuses aliases
    added at run time, such as a scenario's private cluster, while it lets an open connection be used."""
    wrapper = connections[alias]
    if wrapper.connection is None:
        wrapper.connect()
    return wrapper


def _running(process: Process) -> Process:
    """The process, if it still runs: one that exited at start fails the scenario at once, with its log's end."""
    if not process.alive():
        raise RuntimeError(f"{' '.join(process.args[:4])} exited:\n{process.output()[-2000:]}")
    return process


def register_database(alias: str, url: str) -> str:
    """A database alias for this process, added at run time (the private cluster of one scenario)."""
    config = dj_database_url.parse(url)
    connections.settings[alias] = connections.configure_settings({"default": config})["default"]
    return alias


def unregister_database(alias: str) -> None:
    if alias in connections.settings:
        connections[alias].close()
        del connections.settings[alias]
        try:
            del connections[alias]
        except AttributeError:
            pass  # never used in this thread


def wait_quiet(stack: Stack, seconds: float, until: float) -> None:
    """Wait until the ingest queue is empty and nothing new has been stored for `seconds`, or `until`."""
    last = None
    since = time.monotonic()
    while time.monotonic() < until:
        now = (stack.counts() or (None,))[0], stack.queue_depth()
        if now != last:
            last, since = now, time.monotonic()
        elif now[1] == 0 and time.monotonic() - since >= seconds:
            return
        time.sleep(0.25)
