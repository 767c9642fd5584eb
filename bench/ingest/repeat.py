"""Several `mqtt_bench` runs, each on a freshly created database, summed up in one table.

This machine's speed varies from one run to the next by a third or more, so one run proves little. Each run
gets a new database (autovacuum of an earlier run's rows would land in the timed phases) and is preceded by
a fixed CPU loop, printed beside its figures, so that a slow run can be told from a slow change.
Used by `python -m bench.ingest_runs`; the table is built by `summarise` from each run's SUMMARY line.
"""

from __future__ import annotations

import json
import statistics
import timeit
from collections.abc import Iterable
from typing import Any

PROCESSES = ("listener", "worker", "redis", "database")  # the CPU goal counts these four


class RunFailed(RuntimeError):
    """A run printed no SUMMARY line (its output says why)."""


def machine_loop_us() -> float:
    """Best of five: µs for `sum(range(1000))`, the probe docs/benchmarks.md quotes beside its figures."""
    return min(timeit.repeat("sum(range(1000))", number=20_000, repeat=5)) / 20_000 * 1e6


def summary_of(output: str) -> list[dict[str, Any]]:
    """The results a `mqtt_bench` run printed on its `SUMMARY ` line."""
    for line in reversed(output.splitlines()):
        if line.startswith("SUMMARY "):
            return json.loads(line[len("SUMMARY ") :])
    raise RunFailed("the benchmark printed no SUMMARY line")


def cpu_total(phase: dict[str, Any]) -> float:
    return sum(phase["cpu_us_per_msg"].get(name, 0.0) for name in PROCESSES)


def _fmt(values: Iterable[float], digits: int = 0) -> str:
    values = list(values)
    each = ", ".join(f"{v:,.{digits}f}" for v in values)
    if len(values) < 2:
        return each
    return f"{each} (median {statistics.median(values):,.{digits}f})"


def _checkpoints(entries: list[dict[str, Any]]) -> str:
    counts = [e.get("checkpoints") for e in entries]  # None: SQLite, or results of older runs
    return ", ".join("-" if n is None else str(n) for n in counts)


def _latency(phase: dict[str, Any]) -> str:
    if phase["latency_ms_p99"] is None:
        return "-"
    text = f"{phase['latency_ms_p50']:.0f} / {phase['latency_ms_p99']:.0f}"
    intake = phase.get("to_listener_ms_p99")  # not in results of older runs
    return text if intake is None else f"{text} ({intake:.0f})"


def summarise(runs: list[list[dict[str, Any]]], loops_us: list[float]) -> tuple[str, int]:
    """A Markdown table of every phase over the runs, and the messages lost or duplicated in all of them."""
    phases: dict[str, list[dict[str, Any]]] = {}
    references: dict[str, list[dict[str, Any]]] = {}
    for results in runs:
        for entry in results:
            if "phase" in entry:
                phases.setdefault(entry["phase"], []).append(entry)
            else:
                references.setdefault(entry["reference"], []).append(entry)
    lines = [
        f"{len(runs)} runs; machine loop (sum(range(1000))): {_fmt(loops_us, 1)} µs",
        "",
        "| phase | stored msg/s | p50 / p99 ms (p99 until the listener has it) "
        "| CPU µs/msg (listener + worker + Redis + DB) | lost / dup | PostgreSQL checkpoints during the phase |",
        "|---|---|---|---|---|---|",
    ]
    damaged = 0
    for name, entries in phases.items():
        lost, dup = sum(e["lost"] for e in entries), sum(e["duplicated"] for e in entries)
        damaged += lost + dup
        latency = ", ".join(_latency(e) for e in entries)
        lines.append(
            f"| {name} | {_fmt(e['stored_msgs_per_s'] for e in entries)} | {latency} | "
            f"{_fmt((cpu_total(e) for e in entries), 1)} | {lost} / {dup} | {_checkpoints(entries)} |"
        )
    for name, entries in references.items():
        lost = sum(e["published"] - e["received"] for e in entries)
        lines.append(
            f"| reference: {name} | {_fmt(e['msgs_per_s'] for e in entries)} | | "
            f"{_fmt((e['cpu_us_per_msg'] for e in entries), 1)} | {lost} not received | |"
        )
    return "\n".join(lines), damaged
