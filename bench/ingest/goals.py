"""The ingestion issue's goals, checked against the results of one `mqtt_bench` run.

The goals were set on a reference machine where one paho-mqtt subscriber that only counts took ~41,000 QoS 1
msg/s at ~18 µs of CPU a message. Every full run measures that same subscriber on its own machine (reference
"count-tuned"), so each goal that is about machine speed is also given scaled to the machine of the run:
the throughput bar by the subscriber's rate, the CPU bar by its CPU per message. The absolute verdict is
always printed first; the scaled one says whether a miss is the design's or the machine's. Latency and loss
are not scaled (a batch's fixed waits do not shrink on a faster machine; loss is never acceptable).

"Half load" means half the maximum: a half phase is judged only when its max phase ran at the pipeline's
maximum (it stored less than it was offered: `saturated`). A max phase offered less than the pipeline can
take stores it all, and its half phase then runs below half the maximum, where latency is lower: that p99
says nothing about the goal, so it is reported as not measured, with the advice to raise --rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .repeat import cpu_total

REFERENCE_RATE = 41_000  # msg/s of the counting subscriber on the machine the goals were set on
REFERENCE_CPU_US = 18.0  # its CPU µs a message there
MIN_RATE, TIMES_NAIVE, MAX_CPU_US, MAX_P99_MS = 20_000, 10, 50.0, 100.0
COUNTING, NAIVE = "count-tuned", "naive-tuned"


@dataclass(frozen=True)
class Verdict:
    goal: str
    measured: str
    met: bool | None  # None: this run did not measure it
    scaled_bar: str = ""  # the bar on this run's machine, for goals that scale with its speed
    met_scaled: bool | None = None


def verdicts(results: list[dict[str, Any]]) -> list[Verdict]:
    """One verdict per goal (and per phase where the goal applies to several)."""
    phases = {entry["phase"]: entry for entry in results if "phase" in entry}
    references = {entry["reference"]: entry for entry in results if "reference" in entry}
    counting = references.get(COUNTING)
    out = [_no_loss(phases)]
    out.append(_throughput(phases.get("max-10"), counting))
    out.append(_times_naive(phases, references.get(NAIVE)))
    out += [_cpu(name, entry, counting) for name, entry in phases.items() if name.startswith("max-")]
    halves = [(name, entry) for name, entry in phases.items() if name.startswith("half-")]
    out += [_p99(name, entry, phases.get("max-" + name.removeprefix("half-"))) for name, entry in halves]
    return out


def _no_loss(phases: dict[str, dict[str, Any]]) -> Verdict:
    lost = sum(entry["lost"] for entry in phases.values())
    duplicated = sum(entry["duplicated"] for entry in phases.values())
    measured = f"{lost} lost, {duplicated} stored twice, in {len(phases)} phases"
    return Verdict("zero loss at QoS 1", measured, (lost + duplicated == 0) if phases else None)


def _throughput(phase: dict[str, Any] | None, counting: dict[str, Any] | None) -> Verdict:
    goal = f"at least {MIN_RATE:,} msg/s stored with ten connections"
    if phase is None:
        return Verdict(goal, "not measured (no max-10 phase)", None)
    rate = phase["stored_msgs_per_s"]
    return Verdict(goal, f"{rate:,.0f} msg/s", rate >= MIN_RATE, *_scaled(counting, "msgs_per_s", MIN_RATE, rate))


def _times_naive(phases: dict[str, dict[str, Any]], naive: dict[str, Any] | None) -> Verdict:
    goal = f"at least {TIMES_NAIVE} times the naive design"
    top = phases.get("max-10") or next((e for n, e in phases.items() if n.startswith("max-")), None)
    if top is None or not naive or not naive["msgs_per_s"]:
        return Verdict(goal, "not measured (needs a max phase and the naive reference)", None)
    times = top["stored_msgs_per_s"] / naive["msgs_per_s"]
    measured = f"{times:,.0f} times ({top['phase']} against {naive['msgs_per_s']:,} msg/s)"
    return Verdict(goal, measured, times >= TIMES_NAIVE)


def _cpu(name: str, phase: dict[str, Any], counting: dict[str, Any] | None) -> Verdict:
    cpu = cpu_total(phase)
    goal = f"at most {MAX_CPU_US:.0f} µs CPU a message (listener + worker + Redis + DB), {name}"
    return Verdict(goal, f"{cpu:.1f} µs", cpu <= MAX_CPU_US, *_scaled(counting, "cpu_us_per_msg", MAX_CPU_US, cpu))


def _p99(name: str, phase: dict[str, Any], top: dict[str, Any] | None) -> Verdict:
    goal = f"p99 publish to commit under {MAX_P99_MS:.0f} ms, {name}"
    p99 = phase["latency_ms_p99"]
    if p99 is None:
        return Verdict(goal, "not measured (no latency probe was seen)", None)
    if top is not None and top.get("saturated") is False:  # older results have no flag: judged as before
        offered = top["offered_msgs_per_s"]
        return Verdict(
            goal,
            f"{p99:.0f} ms, not judged: {top['phase']} stored all it was offered ({offered:,.0f} msg/s), so "
            "the maximum is higher and this phase ran below half of it (raise --rate)",
            None,
        )
    checkpoints = phase.get("checkpoints")  # a checkpoint's fsync stalls commits: say when one fell in the phase
    during = f" ({checkpoints} PostgreSQL checkpoint{'s' * (checkpoints > 1)} during the phase)" if checkpoints else ""
    return Verdict(goal, f"{p99:.0f} ms{during}", p99 < MAX_P99_MS)


def _scaled(counting: dict[str, Any] | None, key: str, bar: float, value: float) -> tuple[str, bool | None]:
    """The bar scaled by this machine's counting subscriber against the reference machine's, and whether
    `value` meets it: a rate bar (`msgs_per_s`) by its rate, a CPU bar (`cpu_us_per_msg`) by its CPU.
    Nothing without the reference."""
    if not counting or not counting.get(key):
        return "", None
    if key == "msgs_per_s":
        scaled = bar * counting[key] / REFERENCE_RATE
        return f"{scaled:,.0f} msg/s", value >= scaled
    scaled = bar * counting[key] / REFERENCE_CPU_US
    return f"{scaled:.1f} µs", value <= scaled


def _mark(met: bool | None) -> str:
    return {True: "met", False: "not met", None: "-"}[met]


def goals_table(results: list[dict[str, Any]]) -> str:
    """A Markdown table of one run's verdicts."""
    head = [
        "| goal | measured | met | the bar scaled to this machine | met, scaled |",
        "|---|---|---|---|---|",
    ]
    rows = [
        f"| {v.goal} | {v.measured} | {_mark(v.met)} | {v.scaled_bar or '-'} | {_mark(v.met_scaled)} |"
        for v in verdicts(results)
    ]
    return "\n".join(head + rows)


def goals_over_runs(runs: list[list[dict[str, Any]]]) -> str:
    """How many runs met each goal, absolute and scaled (a Markdown table)."""
    counts: dict[str, list[int]] = {}
    for results in runs:
        for verdict in verdicts(results):
            tally = counts.setdefault(verdict.goal, [0, 0, 0, 0])
            tally[0] += verdict.met is True
            tally[1] += verdict.met is not None
            tally[2] += verdict.met_scaled is True
            tally[3] += verdict.met_scaled is not None
    lines = ["| goal | runs that met it | scaled to the run's machine |", "|---|---|---|"]
    for goal, (met, measured, met_scaled, scaled) in counts.items():
        lines.append(f"| {goal} | {met} of {measured} | {f'{met_scaled} of {scaled}' if scaled else '-'} |")
    return "\n".join(lines)
