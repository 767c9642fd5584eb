"""The ingestion benchmark: real publisher → private Mosquitto → listener → Redis → Celery worker → database.

Per scenario (one connection, ten connections; every connection subscribes to "#" on the same broker, so
each published message is received and stored once per connection, like N sites with the same devices):
1. warm-up: one message per topic, so topic discovery is not in the timed runs;
2. "max": publish at the offered rate for `duration` seconds; stored msgs/s = messages / (first to last store);
3. "half": publish at half the measured maximum; latency probes (plain numbers on PROBE_TOPIC, their publish
   time recorded by the publisher) give publish-to-commit p50/p99, seen by polling the database every 10 ms;
after each phase: lost and duplicated messages by sequence number, and CPU µs per stored message of every
process (listener, worker incl. its pool, Redis, PostgreSQL backends of this database, broker, publisher).
Redis and PostgreSQL are shared with anything else running on the machine: their figures include that.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from django.db import connection as db
from django.db.models import Count, Sum

from bench.procs import (
    Children,
    celery_worker,
    cpu_seconds,
    free_port,
    mosquitto_binary,
    mosquitto_config,
    pids_by_command,
    port_open,
    wait_for,
)
from mqtt_app import coordination
from mqtt_app.ingest.sql import int_array, pg_fetch, table
from mqtt_app.models import AlertRule, IngestBatch, MqttConnection, MqttTopic, RawMessage, Site, TelemetryReading
from mqtt_app.services.reconcile import run_reconcile

from .checkpoints import checkpoints
from .goals import MAX_P99_MS
from .mix import DEVICES, FORMATS, PROBE_TOPIC, SEQ_BASE

SITE = "bench-ingest"
PROBES_PER_SECOND = 50
PROBE_WINDOW = 16  # newest readings of each probe topic read by one poll (see probe_poll)
POLL_SECONDS = 0.01
# A phase that stored less than this share of the rate it was offered ran at the pipeline's maximum; one that
# stored it all did not find the maximum (its "half" phase is then below half of it: see goals.py).
SATURATED = 0.95


class IngestBench:
    def __init__(
        self,
        out: Callable[[str], None],
        concurrency: int,
        env: dict[str, str],
        alert_rules: int = 0,
        keep_raw_days: int = 0,
    ) -> None:
        self.out = out
        self.alert_rules = alert_rules  # threshold rules watching the connections (the ingest hook's cost with rules)
        self.keep_raw_days = keep_raw_days  # the connections archive every payload (the archive's cost)
        self.folder = Path(tempfile.mkdtemp(prefix="mqttmon-ingest-bench-"))
        self.timing_log = self.folder / "batch-timing.log"  # the worker's log_timing lines (bench/settings.py)
        self.children = Children(self.folder, env | {"MQTT_BENCH_TIMING_LOG": str(self.timing_log)})
        self.port = free_port()
        self.concurrency = concurrency
        self.redis = coordination.connect()
        self.seq = 0
        self.probe = 0
        self.connections: list[int] = []
        self.lock_key = ""
        self.refused = False

    # --- processes ---------------------------------------------------------------------------------------
    def lock(self) -> None:
        """One benchmark at a time per Redis: two would share the ingest queue and the machine's two cores."""
        from django.conf import settings

        key = f"{settings.REDIS_KEY_PREFIX}:bench:ingest"
        if not self.redis.set(key, os.getpid(), nx=True, ex=3600):
            owner = self.redis.get(key)
            self.refused = True  # cleanup() must not touch the other run's rows
            raise RuntimeError(
                f"another mqtt_bench (pid {owner}) is running against this Redis: its figures and these would "
                f"both be wrong. Wait for it, or delete the key {key} if that process is gone."
            )
        self.lock_key = key

    def start(self) -> None:
        self.lock()
        self.children.spawn("broker", [mosquitto_binary(), "-c", str(mosquitto_config(self.folder, self.port, True))])
        # With alert rules the worker also runs the evaluations the ingest hook asks for, as the Procfile's does.
        queues = "ingest,control,default" if self.alert_rules else "ingest,control"
        self.children.spawn("worker", celery_worker(queues, self.concurrency, f"bench-ingest-{self.port}"))
        self.children.spawn("listener", [sys.executable, "manage.py", "mqtt_listener", "--id", "bench-ingest"])
        wait_for(
            lambda: self.redis.exists(coordination.listener_key("bench-ingest")), 60, what="the listener heartbeat"
        )

    def setup(self, count: int) -> None:
        self.setup_rows(count)
        self.settle()
        run_reconcile()
        wait_for(lambda: self._held() == count, 60, 0.2, what=f"{count} connections held by the listener")

    def setup_rows(self, count: int) -> None:
        Site.objects.filter(name=SITE).delete()
        site = Site.objects.create(name=SITE)
        self.connections = [
            MqttConnection.objects.create(
                site=site,
                name=f"bench-{i}",
                host="127.0.0.1",
                port=self.port,
                topics=[{"filter": "#", "qos": 1}],
                keep_raw_days=self.keep_raw_days,
            ).pk
            for i in range(count)
        ]
        for n in range(self.alert_rules):
            # Never fires (the mix's temperatures are ~20): what is measured is watching, not notifying.
            AlertRule.objects.create(site=site, connection_id=self.connections[n % count], name=f"bench-{n}",
                                     kind="threshold", filter="zigbee2mqtt/#", metric="temperature", op="gt",
                                     value=1e9, for_seconds=0)  # fmt: skip

    def settle(self) -> float:
        """VACUUM ANALYZE the ingestion tables, then have the kernel write every dirty page; returns the CPU
        seconds the vacuum took (it runs in this process's own backend). Before a scenario: what the previous
        clean-up deleted is not left to an autovacuum in a timed phase. After each phase: the phase's share of
        vacuuming (an insert-only table is vacuumed as it grows; the topic rows' old versions are pruned),
        reported as `vacuum_after`. Autovacuum may still start inside a long phase; then it is in that phase's
        database figure."""
        if db.vendor != "postgresql":
            return 0.0
        models = (TelemetryReading, MqttTopic, IngestBatch, MqttConnection, RawMessage)
        tables = [model._meta.db_table for model in models]
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            own = [cursor.fetchone()[0]]
            before = cpu_seconds(own)
            cursor.execute(f"VACUUM ANALYZE {', '.join(db.ops.quote_name(t) for t in tables)}")
            used = cpu_seconds(own) - before
        # The vacuum's writes, and the previous phase's, are left for the kernel to write back: otherwise it
        # writes them in the first seconds of the next phase, whose commits' WAL fsyncs queue behind them (seen:
        # a half phase slow in its first 3 seconds only). Each timed phase starts with them on disk.
        os.sync()
        return used

    def _held(self) -> int:
        beat = coordination.live_listeners(self.redis).get("bench-ingest") or {}
        held = beat.get("connections", {})
        return sum(1 for cid in self.connections if (held.get(str(cid)) or {}).get("status") == "connected")

    def batches(self) -> int:
        """Listener batches stored (IngestBatch has a row per connection part of a batch)."""
        rows = IngestBatch.objects.filter(connection_id__in=self.connections)
        return rows.values("batch").distinct().count()

    def stored(self) -> int:
        rows = MqttConnection.objects.filter(pk__in=self.connections)
        return rows.aggregate(n=Sum("messages_received"))["n"] or 0

    # --- one phase -------------------------------------------------------------------------------------------
    def phase(self, name: str, rate: float, seconds: float) -> dict:
        """Publish `rate` msg/s for `seconds` (stored rate is that times the number of connections)."""
        count = max(1, int(rate * seconds))
        probe_every = max(10, int(rate // PROBES_PER_SECOND))  # probes stay a small part of the load
        start_seq, probe_start, base = self.seq, self.probe, self.stored()
        self.seq += count
        self.probe += count // probe_every + 1
        expected = count * len(self.connections)
        cpu_before, t0, batches_before = self.cpu(), time.monotonic(), self.batches()
        checkpoints_before, started = checkpoints(), time.time()
        publisher = self.children.spawn(
            f"publisher-{name}",
            [
                sys.executable,
                "-m",
                "bench.ingest.publisher",
                "--port",
                str(self.port),
                "--rate",
                str(rate),
                "--count",
                str(count),
                "--start-seq",
                str(start_seq),
                "--probe-every",
                str(probe_every),
                "--probe-start",
                str(probe_start),
                "--client-id",
                f"bench-pub-{name}",
            ],
            stdout=-1,
        )
        seen, progress = self.watch(base, expected, probe_start)
        stages = batch_stages(self.timing_log, started, time.time())
        report = json.loads(publisher.communicate(timeout=60)[0] or "{}")
        cpu_after = self.cpu()
        checkpoints_after = checkpoints()
        stored = self.stored() - base
        vacuum = self.settle()
        offered, stored_rate = rate * len(self.connections), round(_rate(progress, base), 0)
        return {
            "phase": name,
            "started_utc": time.strftime("%H:%M:%S", time.gmtime(started)),
            "connections": len(self.connections),
            "offered_msgs_per_s": offered,
            "published": report.get("sent", 0),
            "pubacks": report.get("acked", 0),
            "stored": stored,
            "stored_msgs_per_s": stored_rate,
            "saturated": stored_rate < SATURATED * offered,
            "mean_batch": round(stored / max(self.batches() - batches_before, 1)),
            "elapsed_s": round(time.monotonic() - t0, 2),
            **self.latency(seen, report.get("probes", {})),
            "batch_stages_ms": stages,
            **self.integrity(start_seq, count, probe_every),
            "checkpoints": None if checkpoints_after is None else checkpoints_after - checkpoints_before,
            "cpu_us_per_msg": {
                k: round((cpu_after.get(k, 0) - cpu_before.get(k, 0)) / max(stored, 1) * 1e6, 1) for k in cpu_after
            }
            | {
                "publisher": round(report.get("cpu", 0) / max(stored, 1) * 1e6, 1),
                "vacuum_after": round(vacuum / max(stored, 1) * 1e6, 1),
            },
        }

    def watch(self, base: int, expected: int, probe_start: int) -> tuple[dict, list[tuple[float, int]]]:
        """Poll until everything is stored (or nothing moved for 30 s): each probe's commit time (when the
        poll saw it) and listener receipt time, and progress."""
        seen: dict[tuple[int, int], tuple[float, float]] = {}
        progress: list[tuple[float, int]] = []
        last_change, last_total, next_total = time.monotonic(), -1, 0.0
        topic_ids = list(
            MqttTopic.objects.filter(connection_id__in=self.connections, topic=PROBE_TOPIC).values_list("id", flat=True)
        )  # resolved once
        poll = probe_poll(topic_ids, probe_start)
        while True:
            now = time.time()
            for cid, value, received in poll():
                seen.setdefault((cid, int(value)), (now, received))
            if time.monotonic() >= next_total:
                total = self.stored()
                progress.append((time.monotonic(), total))
                next_total = time.monotonic() + 0.1
                if total != last_total:
                    last_total, last_change = total, time.monotonic()
                if total - base >= expected or time.monotonic() - last_change > 30:
                    return seen, progress
            time.sleep(POLL_SECONDS)

    def latency(self, seen: dict[tuple[int, int], tuple[float, float]], sent: dict[str, float]) -> dict:
        """Publish to commit p50/p99, and of that the part before the listener had the message (the broker's
        delivery and the listener's read: the rest is batching, the queue, the worker and the commit)."""
        pairs = [(times, sent[str(number)]) for (_, number), times in seen.items() if str(number) in sent]
        if len(pairs) < 2:
            return {"latency_ms_p50": None, "latency_ms_p99": None, "probes": len(pairs)}
        latencies = [((at - published) * 1000, published) for (at, _), published in pairs]
        total = statistics.quantiles([ms for ms, _ in latencies], n=100)
        intake = statistics.quantiles([(received - published) * 1000 for (_, received), published in pairs], n=100)
        return {
            "latency_ms_p50": round(total[49], 1),
            "latency_ms_p99": round(total[98], 1),
            "to_listener_ms_p50": round(intake[49], 1),
            "to_listener_ms_p99": round(intake[98], 1),
            "probes": len(pairs),
            "slow_probes_by_second": slow_seconds(latencies),
        }

    def integrity(self, start_seq: int, count: int, probe_every: int) -> dict:
        """Each non-probe message has one reading valued SEQ_BASE + seq: missing ones are lost, extras duplicated."""
        per_connection = count - len(range(0, count, probe_every))
        rows = (
            TelemetryReading.objects.filter(
                connection_id__in=self.connections,
                value__gte=SEQ_BASE + start_seq,
                value__lt=SEQ_BASE + start_seq + count,
            )
            .values("connection_id")
            .annotate(n=Count("id"), distinct=Count("value", distinct=True))
        )
        found = {row["connection_id"]: row for row in rows}
        lost = sum(per_connection - (found.get(c) or {}).get("distinct", 0) for c in self.connections)
        dup = sum(row["n"] - row["distinct"] for row in found.values())
        return {"lost": lost, "duplicated": dup}

    def cpu(self) -> dict[str, float]:
        return {
            "listener": cpu_seconds(self.children.pids("listener")),
            "worker": cpu_seconds(self.children.pids("worker"), reaped=True),
            "redis": cpu_seconds(pids_by_command("redis-server")),
            "database": self.db_cpu(),
            "broker": cpu_seconds(self.children.pids("broker")),
        }

    def db_cpu(self) -> float:
        """Every PostgreSQL process (backends, WAL writer, checkpointer, autovacuum: ingestion causes their
        work too) plus the backends that exited (the postmaster reaps them: their CPU is in its children's
        time; a worker reconnects every CELERY_DB_REUSE_MAX batches), minus this process's own backend (the
        benchmark's polling is not the system measured). The server is shared with whatever else runs."""
        if db.vendor != "postgresql":
            return 0.0  # SQLite runs inside the worker: its cost is in the worker's figure
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            own = cursor.fetchone()[0]
        pids = pids_by_command("postgres")
        return cpu_seconds(pids, reaped=True) - cpu_seconds([own])

    # --- the whole run -----------------------------------------------------------------------------------------
    def scenario(self, count: int, rate: float, seconds: float) -> list[dict]:
        self.setup(count)
        warm = self.phase("warmup", 500, (len(FORMATS) * DEVICES + 10) / 500)
        self.out(f"warm-up with {count} connection(s): {warm['stored']} stored, lost {warm['lost']}")
        top = self.phase(f"max-{count}", rate / count, seconds)
        self.out(json.dumps(top))
        half_rate = max(top["stored_msgs_per_s"] / 2, 100) / count
        half = self.phase(f"half-{count}", half_rate, seconds)
        self.out(json.dumps(half))
        return [top, half]

    # --- references ------------------------------------------------------------------------------------------
    def reference(self, mode: str, count: int, rate: float, high_rate_broker: bool) -> dict:
        """One reference subscriber fed `count` messages at `rate` msg/s through its own private broker."""
        port = free_port()
        tag = f"{mode}-{'tuned' if high_rate_broker else 'default'}"
        config = mosquitto_config(self.folder, port, high_rate_broker)
        self.children.spawn(f"broker-{tag}", [mosquitto_binary(), "-c", str(config)])
        wait_for(lambda: port_open(port), 10, what="the reference broker")
        env_connection = str(self.connections[0]) if self.connections else "0"
        self.children.env["BENCH_CONNECTION_ID"] = env_connection
        subscriber = self.children.spawn(
            f"ref-{tag}",
            [
                sys.executable,
                "-m",
                "bench.ingest.references",
                mode,
                "--port",
                str(port),
                "--expect",
                str(count),
            ],
            stdout=-1,
            text=True,
        )
        assert subscriber.stdout is not None
        subscriber.stdout.readline()  # {"ready": true} once subscribed
        publisher = self.children.spawn(
            f"pub-{tag}",
            [
                sys.executable,
                "-m",
                "bench.ingest.publisher",
                "--port",
                str(port),
                "--rate",
                str(rate),
                "--count",
                str(count),
                "--start-seq",
                str(self.seq),
                "--probe-every",
                "0",
                "--probe-start",
                "0",
                "--client-id",
                f"bench-pub-{tag}",
            ],
            stdout=-1,
        )
        self.seq += count
        result = json.loads(subscriber.stdout.readline() or "{}")
        publisher.communicate(timeout=60)
        self.children.stop(f"broker-{tag}")
        received, seconds = result.get("received", 0), result.get("seconds", 0) or 1e-9
        cpu = round(result.get("cpu", 0) / max(received, 1) * 1e6, 1)
        return {
            "reference": tag,
            "published": count,
            "received": received,
            "msgs_per_s": round(received / seconds),
            "cpu_us_per_msg": cpu,
        }

    def cleanup(self) -> None:
        if self.refused:
            return
        self.children.stop_all()
        Site.objects.filter(name=SITE).delete()
        if self.lock_key and self.redis.get(self.lock_key) == str(os.getpid()).encode():
            self.redis.delete(self.lock_key)


def slow_seconds(latencies: list[tuple[float, float]], threshold_ms: float = MAX_P99_MS) -> dict[str, int]:
    """Probes, as (publish to commit ms, publish epoch), that took `threshold_ms` (the p99 goal) or more,
    counted by the second of the phase they were published in (from the first probe's publish), in time order.
    A p99 made by one stall shows as one or two seconds, to set beside the database's log (checkpoints) and
    the disk's activity at that moment."""
    if not latencies:
        return {}
    first = min(published for _, published in latencies)
    slow: dict[int, int] = {}
    for ms, published in latencies:
        if ms >= threshold_ms:
            second = int(published - first)
            slow[second] = slow.get(second, 0) + 1
    return {str(second): slow[second] for second in sorted(slow)}


STAGES = {  # name: (from, to) among the milestones of a log_timing line
    "batching": ("received", "sent"),
    "queue": ("sent", "started"),
    "storing": ("started", "committed"),
    "received_to_commit": ("received", "committed"),
}


def batch_stages(log: Path, start: float, end: float) -> dict:
    """p50 / p99 / max ms of each stage of the batches whose storing started in [start, end], from the worker's
    timing lines (mqtt_app.ingest.service.log_timing): where a phase's latency went. The probes' p99 is
    publish to commit; a batch's oldest message has waited the longest in it, so `received_to_commit` here is
    its worst case after the broker's delivery."""
    rows = []
    for line in log.read_text().splitlines() if log.exists() else []:
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        try:
            milestones = {name: float(fields[name]) for name in ("received", "sent", "started", "committed")}
        except (KeyError, ValueError):  # a listener that sends no sent_at ("-"), or a foreign line
            continue
        if start <= milestones["started"] <= end:
            rows.append(milestones)
    if len(rows) < 2:
        return {}
    out = {}
    for name, (first, last) in STAGES.items():
        spans = [(row[last] - row[first]) * 1000 for row in rows]
        cuts = statistics.quantiles(spans, n=100)
        out[name] = {"p50": round(cuts[49], 1), "p99": round(cuts[98], 1), "max": round(max(spans), 1)}
    return out | {"batches": len(rows)}


def probe_poll(topic_ids: list[int], probe_start: int) -> Callable[[], list[tuple[int, float, float]]]:
    """The query run every POLL_SECONDS for the probes stored since the last one: (connection id, number, the
    listener's receipt time as a Unix time).

    PostgreSQL: each probe topic's newest PROBE_WINDOW readings, through the (topic, time) index, as one
    statement (parsed and planned on each call: Django's connection prepares nothing). The poll used to read
    every probe of the run, through an ORM query built each time, every 5 ms: measured during a half-load
    phase, the poll's backend and this process then took half of one of the machine's two cores, CPU taken
    from the system being measured (0.15 of a core now). A probe is seen unless PROBE_WINDOW newer ones of
    its topic were committed before the next poll (a batch carries a few of each topic); an unseen probe only
    lowers the `probes` count. A commit is seen up to POLL_SECONDS late, so the latencies reported are that
    much pessimistic at most."""
    if db.vendor != "postgresql":
        probes = TelemetryReading.objects.filter(topic_id__in=topic_ids, value__gte=probe_start, value__lt=SEQ_BASE)
        columns = ("connection_id", "value", "received_at")  # a new query each call (a QuerySet caches its rows)
        return lambda: [(cid, value, at.timestamp()) for cid, value, at in probes.values_list(*columns)]
    sql = (
        "SELECT r.connection_id, r.value, extract(epoch FROM r.received_at)::float8 FROM unnest(%s::bigint[]) "  # noqa: S608
        "AS t(id), LATERAL (SELECT connection_id, value, received_at "
        f"FROM {table(TelemetryReading)} WHERE topic_id = t.id ORDER BY timestamp DESC "
        f"LIMIT {PROBE_WINDOW}) AS r WHERE r.value >= %s AND r.value < %s"
    )
    params = [int_array(topic_ids), probe_start, SEQ_BASE]
    return lambda: pg_fetch(sql, params)


def _rate(progress: list[tuple[float, int]], base: int) -> float:
    """Messages over the span from the first to the last increase of the stored count."""
    moving = [(t, n) for t, n in progress if n > base]
    if len(moving) < 2:
        return 0.0
    last = max(n for _, n in moving)
    end = next(t for t, n in moving if n == last)
    first_t, first_n = moving[0]
    return (last - first_n) / (end - first_t) if end > first_t else 0.0
