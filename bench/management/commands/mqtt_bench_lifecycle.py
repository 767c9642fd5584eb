"""`python manage.py mqtt_bench_lifecycle [--connections 1000] [--trials 20]`: see bench/lifecycle.py."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from mqtt_app.management.migrated import require_migrated


class Command(BaseCommand):
    help = "Benchmark start-to-connected, reconcile time, listener footprint and failover; prints figures."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connections", type=int, default=1000)
        parser.add_argument("--trials", type=int, default=20, help="start-to-connected samples")
        parser.add_argument("--skip-failover", action="store_true")

    def handle(self, *args, connections: int, trials: int, skip_failover: bool, **options) -> None:
        require_migrated()
        from bench.lifecycle import Bench

        bench = Bench(connections, trials, self.stdout.write)
        try:
            bench.start_services()
            bench.create_connections(1, active=True)
            bench.start_listener("bench-L1")
            bench.start_to_connected()
            bench.create_connections(connections, active=False)
            bench.reconcile_times()
            bench.listener_footprint("bench-L1")
            if not skip_failover:
                bench.failover()
        finally:
            bench.stop_all()
            bench.cleanup()
