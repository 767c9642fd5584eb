"""`python manage.py mqtt_bench`: the ingestion benchmark (see bench/ingest/run.py). Prints figures."""

from __future__ import annotations

import json
import os
import resource

from django.core.management.base import BaseCommand
from django.db import connection as db

from bench.ingest.checkpoints import checkpoint_note, checkpoint_settings
from bench.ingest.goals import goals_table
from bench.ingest.run import IngestBench
from mqtt_app.management.migrated import require_migrated


class Command(BaseCommand):
    help = (
        "Publish a realistic mix through broker, listener, Redis, worker and database; print throughput, "
        "latency, loss and CPU per message, plus the raw-ceiling and naive-design references."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--connections", default="1,10", help="comma-separated scenarios (default 1,10)")
        parser.add_argument(
            "--rate",
            type=float,
            default=60000,
            help="offered stored msgs/s in the max phase: more than the pipeline takes, so it finds the maximum",
        )
        parser.add_argument("--duration", type=float, default=10, help="seconds per phase")
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes for the ingest queue")
        parser.add_argument("--no-references", action="store_true", help="skip the raw-ceiling and naive runs")
        parser.add_argument(
            "--alert-rules", type=int, default=0,
            help="threshold rules watching the connections (one per connection, round robin; they never fire)",
        )  # fmt: skip
        parser.add_argument(
            "--keep-raw-days", type=int, default=0,
            help="the connections archive their raw payloads (the archive's cost on ingestion)",
        )  # fmt: skip
        parser.add_argument(
            "--worker-only",
            action="store_true",
            help="only the in-process worker-side cost (store_batch, COPY vs bulk_create, sends)",
        )

    def handle(self, *args, **options) -> None:
        require_migrated()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "bench.ingest.settings"}
        bench = IngestBench(self.stdout.write, options["concurrency"], env, options["alert_rules"],
                            options["keep_raw_days"])  # fmt: skip
        try:
            if options["worker_only"]:
                self.worker_only(bench)
                return
            if db.vendor == "postgresql":
                with db.cursor() as cursor:
                    self.stdout.write(checkpoint_note(checkpoint_settings(cursor)))
            bench.start()
            results = []
            for count in [int(c) for c in options["connections"].split(",") if c.strip()]:
                results += bench.scenario(count, options["rate"], options["duration"])
            if not options["no_references"]:
                for mode, count, rate, tuned in (
                    ("count", 100_000, 60_000, True),
                    ("naive", 5_000, 10_000, True),
                    ("naive", 10_000, 10_000, False),
                ):
                    results.append(bench.reference(mode, count, rate, tuned))
                    self.stdout.write(json.dumps(results[-1]))
            self.stdout.write(goals_table(results))
            self.stdout.write("SUMMARY " + json.dumps(results))
        finally:
            bench.cleanup()
            self.stdout.write(f"logs: {bench.folder}")

    def worker_only(self, bench: IngestBench) -> None:
        from bench.ingest.worker_side import measure

        bench.setup_rows(1)
        self.stdout.write(json.dumps(measure(bench.connections[0]), indent=1))
