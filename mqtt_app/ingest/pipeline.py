"""One listener batch from the queue to the browser: decode, store (isolating what cannot be stored), announce."""

from __future__ import annotations

import logging
import time
from typing import Any

from mqtt_app.alerts import hook as alert_hook

from . import live
from .isolate import store_safely
from .service import Outcome
from .wire import BadBatch, Batch, decode_batch

logger = logging.getLogger(__name__)
# Where a stored batch's time went, one DEBUG line each (off unless this logger is set to DEBUG: the benchmark
# does, to report the stages of a phase's batches; see log_timing).
timing_logger = logging.getLogger("mqtt_app.ingest.timing")


def ingest_batch(raw: Any, *, announce: bool = True) -> Outcome:  # noqa: ANN401 - whatever the queue held
    """Store one batch (idempotent per batch id) and, after commit, send its live events. Raises only
    transient errors (mqtt_app.ingest.isolate.TRANSIENT), which the task retries."""
    started = time.time()
    try:
        batch = decode_batch(raw)
    except BadBatch as exc:
        logger.error("dropping an unusable batch: %s", exc)
        return Outcome("bad_batch")
    outcome, updates = store_safely(batch)
    if timing_logger.isEnabledFor(logging.DEBUG) and outcome.status == "stored":
        log_timing(batch, started, time.time())
    if outcome.status == "stored":
        alert_hook.after_batch(updates)  # value rules the batch's readings may change, at once (cheap when none)
    if updates and announce:
        try:
            outcome.events = live.publish_all(updates)
        except Exception as exc:  # noqa: BLE001 - stored is stored: open pages resynchronise on reconnect
            logger.warning("batch %s stored, but its live events could not be sent: %s", batch.id, exc)
    return outcome


def log_timing(batch: Batch, started: float, committed: float) -> None:
    """Epoch seconds of a stored batch's milestones: its oldest message's receipt by the listener, its send to
    the queue (`sent_at`, "-" from a listener that does not say), this task's start, and the commit. Their
    differences: the listener's batching, the wait in the queue, the storing."""
    received = [span[0] for part in batch.parts if (span := part.received_range)]
    if not received:
        return  # every entry was malformed: nothing was received to time
    first = min(received).timestamp()
    sent = "-" if batch.sent_at is None else f"{batch.sent_at:.4f}"
    timing_logger.debug(
        "batch=%s messages=%d received=%.4f sent=%s started=%.4f committed=%.4f",
        batch.id,
        batch.message_count,
        first,
        sent,
        started,
        committed,
    )
