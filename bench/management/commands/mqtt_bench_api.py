"""`manage.py mqtt_bench_api`: p50/p99 of `GET /api/connections` with 1,000 connections (goal: p99 < 50 ms), and
with `--readings N` of every read endpoint on a readings table of N rows (goal: p99 < 100 ms; bench/api_readings.py).

Requests go through the whole Django stack (middleware, bearer-token auth, ninja, JSON rendering) with the
test client, in this process, against the configured database: what a server adds on top is the HTTP
parsing. It creates its own throwaway site, connections and superuser, and removes them at the end.
Wall time and this process's CPU time are both reported: on a shared machine the wall time mostly measures
the neighbours, the CPU time what a request costs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, reset_queries
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench import api_readings
from mqtt_app.management.migrated import require_migrated
from mqtt_app.models import ApiToken, ConnectionStatus, MqttConnection, Site


class Command(BaseCommand):
    help = "Benchmark the connection list of the JSON API with N connections (prints p50/p99); cleans up after."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connections", type=int, default=1000, help="Connections to create (default 1000).")
        parser.add_argument("--requests", type=int, default=200, help="Timed requests per case (default 200).")
        parser.add_argument("--warmup", type=int, default=20, help="Untimed requests first (default 20).")
        parser.add_argument(
            "--readings", type=int, default=0,
            help="Also time the read endpoints on a kept dataset of this many readings (PostgreSQL; filled once).",
        )  # fmt: skip
        parser.add_argument("--drop-history", action="store_true", help="Remove the kept readings dataset and exit.")

    def handle(self, *args: object, **options: int) -> None:
        require_migrated()
        if options["drop_history"]:
            api_readings.drop(self.stdout.write)
            return
        if options["connections"] < 1 or options["requests"] < 1:
            raise CommandError("--connections and --requests must be at least 1.")
        tag = f"bench-api-{uuid.uuid4().hex[:8]}"
        site = Site.objects.create(name=tag, description="Throwaway data of mqtt_bench_api; safe to delete.")
        user = get_user_model().objects.create_superuser(tag, email=None, password=None)  # sees every site
        try:
            _populate(site, options["connections"])
            client = Client(headers={"Authorization": f"Bearer {ApiToken.issue(user)}"})
            n = options["connections"]
            cases = {
                f"list, all {n} in one page (limit={n})": f"/api/connections?site={site.pk}&limit={n}",
                "list, default page (100)": f"/api/connections?site={site.pk}",
                "one connection": f"/api/connections/{MqttConnection.objects.filter(site=site).first().pk}",
            }
            if options["readings"] > 0:
                cases |= api_readings.cases(api_readings.dataset(options["readings"], self.stdout.write))
            with override_settings(ALLOWED_HOSTS=["*"]):
                for label, url in cases.items():
                    self._measure(label, lambda url=url: _get(client, url), options["requests"], options["warmup"])
        finally:
            site.delete()  # cascades to the connections
            user.delete()
            self.stdout.write(f"removed the throwaway site and user {tag}")

    def _measure(self, label: str, call: Callable[[], int], requests: int, warmup: int) -> None:
        for _ in range(warmup):
            call()
        reset_queries()  # the request_started signal resets the log too; start both from zero
        with CaptureQueriesContext(connection) as queries:
            items = call()
        query_count = len(queries)  # now: the captured list is read lazily from a log later requests reset
        wall, cpu = [], []
        for _ in range(requests):
            started, started_cpu = time.perf_counter(), time.process_time()
            call()
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        self.stdout.write(
            f"{label}: wall p50 {_pct(wall, 50):.1f} ms, p99 {_pct(wall, 99):.1f} ms | "
            f"CPU p50 {_pct(cpu, 50):.1f} ms, p99 {_pct(cpu, 99):.1f} ms "
            f"({requests} requests, {items} item(s) each, {query_count} SQL queries per request)"
        )


def _pct(values: list[float], percentile: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, len(ordered) * percentile // 100)]


def _populate(site: Site, count: int) -> None:
    # Rows like running connections: a stored password (the list computes "has_password") and every
    # timestamp set (parsing datetimes is a good part of the cost). is_active=False: no listener picks them up.
    secret, now = uuid.uuid4().hex, timezone.now()
    stamps = dict.fromkeys(("status_changed_at", "last_connected_at", "last_heartbeat_at", "last_message_at"), now)
    MqttConnection.objects.bulk_create(
        [
            MqttConnection(site=site, name=f"bench {i:05}", host=f"10.0.{i // 250}.{i % 250}", password=secret,
                           topics=[{"filter": f"site/{i}/#", "qos": 1}], is_active=False,
                           status=ConnectionStatus.CONNECTED, listener="bench", messages_received=i, **stamps)
            for i in range(count)
        ],
        batch_size=500,
    )  # fmt: skip


def _get(client: Client, url: str) -> int:
    response = client.get(url)
    healthy = response.status_code == 200 or (url == "/api/health" and response.status_code == 503)
    if not healthy:  # the health report answers 503 when no listener runs: still a full answer
        raise CommandError(f"GET {url} answered {response.status_code}: {response.content[:200]!r}")
    if response.streaming:
        return sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1  # type: ignore[union-attr]
    body = response.json()
    return len(body["items"]) if "items" in body else 1
