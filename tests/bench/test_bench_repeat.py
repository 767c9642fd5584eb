"""`python -m bench.ingest_runs`: several benchmark runs summed up in one table; loss is never hidden."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.ingest.repeat import RunFailed, summarise, summary_of
from tests.helpers import ROOT


def _phase(name: str, rate: float, p99: float, lost: int = 0, duplicated: int = 0) -> dict:
    cpu = {"listener": 8.0, "worker": 30.0, "redis": 1.0, "database": 20.0, "broker": 9.0, "publisher": 2.0}
    return {"phase": name, "stored_msgs_per_s": rate, "latency_ms_p50": p99 / 2, "latency_ms_p99": p99,
            "lost": lost, "duplicated": duplicated, "cpu_us_per_msg": cpu}  # fmt: skip


def test_the_summary_line_is_found_among_the_benchmarks_output():
    results = [_phase("max-10", 20_000, 3000)]
    output = f"warm-up with 10 connection(s)\nSUMMARY {json.dumps(results)}\nlogs: /tmp/x\n"
    assert summary_of(output) == results
    with pytest.raises(RunFailed, match="no SUMMARY"):
        summary_of("Traceback (most recent call last):\n")


def test_the_table_lists_every_run_with_its_median_and_counts_what_was_lost():
    runs = [
        [
            _phase("max-10", 20_000, 3000),
            {"reference": "count-tuned", "published": 10, "received": 10, "msgs_per_s": 25_000, "cpu_us_per_msg": 40.0},
        ],  # fmt: skip
        [
            _phase("max-10", 18_000, 3500, lost=2),
            {"reference": "count-tuned", "published": 10, "received": 9, "msgs_per_s": 24_000, "cpu_us_per_msg": 42.0},
        ],  # fmt: skip
        [
            _phase("max-10", 22_000, 2500, duplicated=1),
            {"reference": "count-tuned", "published": 10, "received": 10, "msgs_per_s": 26_000, "cpu_us_per_msg": 38.0},
        ],  # fmt: skip
    ]
    runs[0][0]["to_listener_ms_p99"] = 12.4  # the part before the listener had the probe (older runs lack it)
    runs[0][0]["checkpoints"], runs[1][0]["checkpoints"] = 0, 2  # PostgreSQL checkpoints during the phase
    table, damaged = summarise(runs, [10.4, 11.0, 12.5])
    assert damaged == 3
    assert "3 runs; machine loop (sum(range(1000))): 10.4, 11.0, 12.5 (median 11.0) µs" in table
    assert "| max-10 | 20,000, 18,000, 22,000 (median 20,000) | 1500 / 3000 (12), 1750 / 3500, 1250 / 2500 |" in table
    assert "59.0, 59.0, 59.0 (median 59.0) | 2 / 1 | 0, 2, - |" in table  # listener + worker + Redis + DB only
    assert "| reference: count-tuned | 25,000, 24,000, 26,000 (median 25,000) | | 40.0, 42.0, 38.0" in table
    assert table.endswith("| 1 not received | |")


def test_the_script_refuses_a_database_it_must_not_drop():
    done = subprocess.run(
        [sys.executable, "-m", "bench.ingest_runs", "--database", "postgres://postgres@127.0.0.1/mqttmon"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "its name must contain 'bench'" in done.stderr
