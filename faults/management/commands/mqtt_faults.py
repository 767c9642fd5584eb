"""`python manage.py mqtt_faults [--scenario NAME ...] [--broker redis|amqp|both] [--messages N]`: run the fault
scenarios (faults/scenarios.py) with private services against the configured database; print one table.

The database must hold no other active connection (a scenario's reconcile would take it over), and one run at
a time: two runs' reconciles would hand each other's connections to their listeners."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Inject faults while numbered QoS 1 messages flow; report sent, stored, lost, duplicated, recovery."

    def add_arguments(self, parser: CommandParser) -> None:
        from faults.scenarios import SCENARIOS

        parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="Repeatable; default all.")
        parser.add_argument("--broker", choices=["redis", "amqp", "both"], default="both")
        parser.add_argument("--messages", type=int, help="Numbered messages a scenario (default: its own).")
        parser.add_argument("--folder", help="Where logs and private services' files go (default: a temp folder).")

    def handle(self, *args, scenario=None, broker="both", messages=None, folder=None, **options) -> None:  # noqa: ANN001
        from django.db import connection
        from django.db.migrations.executor import MigrationExecutor

        from faults.procs import RabbitVhost
        from faults.runner import run_scenario, table
        from faults.scenarios import selected
        from faults.stack import deactivate_leftovers, other_active_connections

        if messages is not None and messages < 1:
            raise CommandError("--messages must be at least 1")
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError("the database is not migrated: run `python manage.py migrate` first")
        brokers = ["redis", "amqp"] if broker == "both" else [broker]
        if "amqp" in brokers and not RabbitVhost.available():
            raise CommandError("RabbitMQ is not reachable on 127.0.0.1:5672 (or rabbitmqctl is missing)")
        others = other_active_connections()
        if others:
            raise CommandError(
                f"{len(others)} active connections in this database ({', '.join(others[:3])}...): the scenarios' "
                "reconcile would hand them to their listeners. Run against a database of its own (DATABASE_URL)."
            )
        deactivate_leftovers()
        # SIGTERM ends the run through the clean-up of the scenario in progress (private services, processes).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        runs, skipped = selected(scenario, brokers, connection.vendor)
        for line in skipped:
            self.stderr.write(line)
        root = Path(folder or tempfile.mkdtemp(prefix="mqtt-faults-"))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        results = []
        for chosen, each in runs:
            self.stderr.write(f"{chosen.name} on {each} ...")
            results.append(run_scenario(chosen, each, env, root / f"{chosen.name}-{each}", messages=messages))
            self.stderr.write(results[-1].describe())
        self.stdout.write(table(results))
        self.stderr.write(f"logs in {root}")
