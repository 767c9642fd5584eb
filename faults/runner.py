"""Run one scenario on one broker and measure it: sent (acknowledged by the site's broker), stored (distinct
numbers in the database), lost, duplicated (rows beyond one a number) and the time from the end of the fault
until everything sent was stored."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from . import payloads
from .procs import wait_for
from .publisher import Stream, publish_alone
from .scenarios import Scenario
from .stack import Stack, wait_quiet

logger = logging.getLogger(__name__)

RECOVERY_WINDOW = 60.0  # everything sent must be stored within this many seconds of the fault's end
SETTLE = 3.0  # after that, counts must hold still this long (a late redelivery would show as a duplicate)


@dataclass
class Result:
    scenario: str
    broker: str
    sent: int = 0
    stored: int = 0
    rows: int = 0
    recover_s: float | None = None
    fault_s: float = 0.0
    note: str = ""
    missing: list[int] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    error: str = ""

    @property
    def lost(self) -> int:
        return self.sent - self.stored

    @property
    def duplicated(self) -> int:
        return self.rows - self.stored

    @property
    def ok(self) -> bool:
        return not self.error and self.sent > 0 and self.lost == 0 and self.duplicated == 0

    def describe(self) -> str:
        missing = ", ".join(map(str, self.missing[:20])) + (" ..." if len(self.missing) > 20 else "")
        lines = [
            f"{self.scenario} on {self.broker}: sent {self.sent}, stored {self.stored}, lost {self.lost}, "
            f"duplicated {self.duplicated}, recovered in {_seconds(self.recover_s)} ({self.note})",
        ]
        if self.missing:
            lines.append(f"missing numbers: {missing}")
        if self.error:
            lines.append(f"error: {self.error}")
        lines += [f"log: {path}" for path in self.logs]
        return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def hostile_extras(count: int) -> dict[int, list[tuple[str, bytes]]]:
    """Hostile payloads spread over the middle of the stream (after the numbered topic has its parser)."""
    hostile = [(topic, payload) for topic, payload, _ in payloads.HOSTILE]
    step = max(1, count // (2 * len(hostile)))
    extras: dict[int, list[tuple[str, bytes]]] = {count // 4 + i * step: [item] for i, item in enumerate(hostile)}
    # A benign first message, so the zigbee2mqtt topic exists before the hostile ones.
    extras.setdefault(0, []).append((payloads.ZIGBEE_TOPIC, b'{"temperature": 20.5}'))
    return extras


def run_scenario(
    scenario: Scenario,
    broker: str,
    base_env: dict[str, str],
    folder: Path,
    *,
    messages: int | None = None,
    rate: float | None = None,
) -> Result:
    result = Result(scenario.name, broker)
    stack = Stack(
        folder,
        base_env,
        broker=broker,
        max_queued=scenario.max_queued,
        persistence=scenario.persistence,
        redis_aof=scenario.redis_aof,
        private_postgres=scenario.private_postgres,
        **scenario.stack_options,
    )
    try:
        stack.start()
        result.logs = stack.logs()
        _measure(scenario, stack, result, messages or scenario.messages, rate or scenario.rate)
    except Exception as exc:  # noqa: BLE001 - reported in the result, with the logs to read
        logger.exception("scenario %s on %s failed", scenario.name, broker)
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        result.logs = stack.logs()
        stack.close()
    return result


def _measure(scenario: Scenario, stack: Stack, result: Result, count: int, rate: float) -> None:
    extras = hostile_extras(count) if scenario.hostile else {}
    stream = Stream(stack.mosquitto.host, stack.mosquitto.port, count, rate, extras)
    stream.start()
    # The fault lands mid-stream, once the flow is established end to end.
    wait_for(lambda: stream.published >= count // 2 or stream.done(), timeout=120, what="half the stream sent")
    wait_for(lambda: (stack.counts() or (0,))[0] > 0, timeout=60, interval=0.1, what="the first readings stored")
    if scenario.hostile:
        big = payloads.oversized(int(settings.MQTT_MAX_PAYLOAD_BYTES))
        publish_alone(stack.mosquitto.host, stack.mosquitto.port, payloads.SEQ_TOPIC, big)
    stored_before, sent_before = stack.counts(), stream.acked()
    started = time.monotonic()
    result.note = scenario.fault(stack, stream)
    if stored_before is not None:
        # Sent but not yet stored when the fault began: somewhere in the site's broker, the listener or the queue.
        result.note += f"; {len(sent_before - stored_before[1])} in flight at the fault"
    ended = time.monotonic()
    result.fault_s = ended - started
    stream.wait(timeout=count / rate + 120)
    if stream.error is not None:
        raise RuntimeError(f"the publisher failed: {stream.error!r}")
    sent = stream.acked()
    result.sent = len(sent)
    deadline = max(ended, stream.finished_at or ended) + RECOVERY_WINDOW
    complete_at = None
    while time.monotonic() < deadline:
        counts = stack.counts()
        if counts is not None and sent <= counts[1]:
            complete_at = time.monotonic()
            break
        time.sleep(0.2)
    if complete_at is not None:
        result.recover_s = max(0.0, complete_at - ended)
        wait_quiet(stack, SETTLE, until=deadline)
    final = stack.counts() or (0, set())
    result.rows = final[0]
    stored = final[1] & sent
    result.stored = len(stored)
    result.missing = sorted(sent - stored)
    if result.missing:
        result.note += f"; at the end, {stack.broker_state()}"


COLUMNS = ("scenario", "broker", "sent", "stored", "lost", "duplicated", "time to recover")


def table(results: list[Result]) -> str:
    """A Markdown table (it reads as plain text too)."""
    rows = [
        (r.scenario, r.broker, str(r.sent), str(r.stored), str(r.lost), str(r.duplicated), _recovery(r))
        for r in results
    ]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(COLUMNS)] if rows else []
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(COLUMNS), line(["-" * w for w in widths]), *(line(row) for row in rows)])


def _recovery(result: Result) -> str:
    if result.error:
        return "error"
    if result.recover_s is None:
        return f"not within {RECOVERY_WINDOW:.0f} s"
    return _seconds(result.recover_s)
