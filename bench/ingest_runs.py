"""Run `manage.py mqtt_bench` several times, each on a freshly created database, and print one table.

    python -m bench.ingest_runs --runs 3 [--database postgres://postgres@127.0.0.1:5432/mqttmon_bench]
        [-- <mqtt_bench options; default: --connections 1,10 --rate 60000 --duration 8>]

The database is DROPPED and created again before each run, so its name must contain "bench". Exits 1 when a
run fails or any message was lost or stored twice.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest.checkpoints import checkpoint_note, checkpoint_settings  # noqa: E402
from bench.ingest.goals import goals_over_runs  # noqa: E402
from bench.ingest.repeat import RunFailed, machine_loop_us, summarise, summary_of  # noqa: E402

DEFAULT_BENCH = ["--connections", "1,10", "--rate", "60000", "--duration", "8"]


def server_url(url: str) -> str:
    """The same server's `postgres` database."""
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def checkpoint_line(url: str) -> str:
    import psycopg

    with psycopg.connect(server_url(url)) as conn:
        return checkpoint_note(checkpoint_settings(conn.cursor()))


def recreate(url: str) -> None:
    """Drop and create the database of `url`, connected to the server's `postgres` database."""
    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def one_run(url: str, bench_args: list[str]) -> str:
    env = {**os.environ, "DATABASE_URL": url}
    manage = [sys.executable, str(ROOT / "manage.py")]
    recreate(url)
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)
    done = subprocess.run([*manage, "mqtt_bench", *bench_args], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise RunFailed(f"mqtt_bench exited with {done.returncode}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/mqttmon_bench")
    parser.add_argument("bench_args", nargs="*", help="options for mqtt_bench (after --)")
    options = parser.parse_args()
    if "bench" not in urlsplit(options.database).path:
        parser.error("the database is dropped before each run: its name must contain 'bench'")
    if options.runs < 1:
        parser.error("--runs must be at least 1")
    note = checkpoint_line(options.database)
    print(note, flush=True)
    runs, loops = [], []
    for number in range(1, options.runs + 1):
        loops.append(machine_loop_us())
        print(f"run {number} of {options.runs} (machine loop {loops[-1]:.1f} µs)...", flush=True)
        try:
            runs.append(summary_of(one_run(options.database, options.bench_args or DEFAULT_BENCH)))
            for phase in runs[-1]:  # every figure of the run, on record (the table below keeps the main ones)
                print(json.dumps(phase), flush=True)
        except (RunFailed, subprocess.CalledProcessError) as exc:
            print(f"run {number} failed: {exc}", file=sys.stderr)
            return 1
    table, damaged = summarise(runs, loops)
    print(note)
    print(table)
    print()
    print(goals_over_runs(runs))
    if damaged:
        print(f"{damaged} messages lost or duplicated", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
