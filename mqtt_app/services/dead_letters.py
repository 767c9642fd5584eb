"""Replaying dead letters: a message that could not be stored, stored again once its cause is fixed.

Each replay stores the message as a batch of its own through the worker's own path (`store_safely`), so a
replayed message is discovered, parsed, counted and announced exactly like a live one.

Stored at most once, whoever clicks:
- The dead letter's row is locked (`select_for_update`) for the whole replay, and the replay runs in that
  transaction: a second request for the same row waits, then sees the first one's result.
- A row whose replay stored the message is never replayed again ("already_stored").
- The replay batch's id is `uuid5(row.id, "replay-<attempt>")`, attempt being `replay_count + 1`: the same
  for every request that saw the same state of the row, different for each deliberate new attempt. Should
  two requests ever run one attempt side by side (SQLite ignores row locks), the ingest claim of that batch
  id stores it once and answers "duplicate" to the other, which counts as stored.

A replay that fails again adds no second row: the dead letter the replay itself produced (rows of the replay
batch) is folded into the original row, whose `error_kind` and `error` become the latest failure's, and whose
`replay_result` says "failed again: ...". So a message has one dead letter, with a stable id, however often
it is replayed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from mqtt_app.ingest.wire import Batch, Message
from mqtt_app.models import DeadLetter

if TYPE_CHECKING:  # the ingest modules load on first replay: the API and admin import this module
    from mqtt_app.ingest.service import Outcome

logger = logging.getLogger(__name__)

STORED = "stored"
FAILED_PREFIX = "failed again: "
LISTENER = "replay"  # the batch's listener name: where a replayed message came from, in logs
RESULT_CHARS = DeadLetter._meta.get_field("replay_result").max_length


@dataclass
class ReplayResult:
    """What one replay did. `status`: stored, failed (recorded on the row), already_stored, not_found, or
    error (a transient failure: nothing recorded, try again)."""

    id: uuid.UUID
    status: str
    detail: str = ""
    replay_count: int = 0
    replay_result: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pending() -> QuerySet:
    """Dead letters not stored yet: never replayed, or replayed and failed again."""
    return DeadLetter.objects.exclude(replay_result=STORED)


def replayed_filter(replayed: bool) -> Q:
    """`replayed=True`: stored by a replay; False: still waiting (never replayed or failed again)."""
    return Q(replay_result=STORED) if replayed else ~Q(replay_result=STORED)


def replay_batch_id(dead_letter_id: uuid.UUID, attempt: int) -> uuid.UUID:
    return uuid.uuid5(dead_letter_id, f"replay-{attempt}")


def replay(dead_letter_ids: Iterable[uuid.UUID | str], user: Any = None, via: str = "api") -> list[ReplayResult]:  # noqa: ANN401
    """Replay each dead letter (oldest first), each in a transaction of its own: one that fails again does not
    undo the others. Ids that are unknown come back as "not_found"; repeated ids are replayed once."""
    ids = list(dict.fromkeys(uuid.UUID(str(pk)) for pk in dead_letter_ids))
    order = {pk: created for pk, created in DeadLetter.objects.filter(pk__in=ids).values_list("pk", "created_at")}
    ids.sort(key=lambda pk: (pk not in order, order.get(pk) or timezone.now()))
    return [replay_one(pk, user, via) for pk in ids]


def replay_one(dead_letter_id: uuid.UUID, user: Any = None, via: str = "api") -> ReplayResult:  # noqa: ANN401
    """Replay one dead letter. A transient error (the database or Redis away) records nothing: "error"."""
    from mqtt_app.ingest.isolate import is_transient

    who = getattr(user, "username", None) or "the command line"
    try:
        result = _replay_locked(dead_letter_id)
    except Exception as exc:
        if not is_transient(exc):
            raise
        logger.warning("dead letter %s: replay by %s not done, try again: %s", dead_letter_id, who, exc)
        return ReplayResult(dead_letter_id, "error", f"Not replayed, try again: {type(exc).__name__}: {exc}")
    if result.status in (STORED, "failed"):
        logger.info("dead letter %s replayed by %s (attempt %d): %s", result.id, who, result.replay_count,
                    result.replay_result)  # fmt: skip
        if user is not None or via == "cli":
            _audit(user, result, via)
    return result


def _audit(user: Any, result: ReplayResult, via: str) -> None:  # noqa: ANN401
    from .audit import record

    row = DeadLetter.objects.filter(pk=result.id).values("connection_id", "connection__site_id", "topic").first()
    if row is None:
        return
    changes = {"replay_result": {"old": None, "new": result.replay_result}}
    record(user, "dead_letter.replay", site_id=row["connection__site_id"], connection_id=row["connection_id"],
           target=f"dead letter {result.id} ({row['topic'][:200]})", changes=changes, via=via)  # fmt: skip


def _replay_locked(dead_letter_id: uuid.UUID) -> ReplayResult:
    from mqtt_app.ingest import live
    from mqtt_app.ingest.isolate import is_transient, store_safely

    with transaction.atomic():
        row = DeadLetter.objects.select_for_update().filter(pk=dead_letter_id).first()
        if row is None:
            return ReplayResult(dead_letter_id, "not_found", "No dead letter with this id.")
        if row.replay_result == STORED:
            return _result(row, "already_stored", "An earlier replay stored this message.")
        attempt = row.replay_count + 1
        batch = _batch(row, attempt)
        updates: list = []
        try:
            with transaction.atomic():  # a savepoint: an unexpected error leaves the row lock and is recorded
                outcome, updates = store_safely(batch)
        except Exception as exc:
            if is_transient(exc):
                raise  # nothing recorded: the message is not at fault
            logger.exception("dead letter %s: replay %d raised", row.pk, attempt)
            status, detail = "failed", f"{type(exc).__name__}: {exc}"
        else:
            status, detail = _judge(row, attempt, batch.id, outcome)
        row.replay_count = attempt
        row.replayed_at = timezone.now()
        row.replay_result = STORED if status == STORED else (FAILED_PREFIX + detail)[:RESULT_CHARS]
        row.save(update_fields=["replay_count", "replayed_at", "replay_result", "error_kind", "error"])
        if updates:
            transaction.on_commit(lambda: _announce(live, updates), robust=True)
    return _result(row, status, detail)


def _announce(live: Any, updates: list) -> None:  # noqa: ANN401
    try:
        live.publish_all(updates)
    except Exception as exc:  # noqa: BLE001 - stored is stored: open pages resynchronise on reconnect
        logger.warning("replayed message stored, but its live events could not be sent: %s", exc)


def _batch(row: DeadLetter, attempt: int) -> Batch:
    message = Message(row.topic, bytes(row.payload), row.qos, row.retain, row.received_at)
    return Batch.single(replay_batch_id(row.pk, attempt), row.connection_id, LISTENER, [message])


def _judge(row: DeadLetter, attempt: int, batch_id: uuid.UUID, outcome: Outcome) -> tuple[str, str]:
    """The replay's status and detail from store_safely's outcome; a new dead letter is folded into `row`."""
    if outcome.status == "no_connection":
        return "failed", f"connection {row.connection_id} no longer exists"
    again = _fold_new_dead_letters(row, batch_id)
    if outcome.dead_letters or again:
        return "failed", row.error or row.error_kind  # the error already names its kind
    if outcome.status == "duplicate":
        # Another request ran this very attempt (only possible without the row lock): what it recorded holds.
        recorded = (
            DeadLetter.objects.filter(pk=row.pk, replay_count__gte=attempt)
            .exclude(replay_result=STORED)
            .values_list("replay_result", flat=True)
            .first()
        )
        if recorded:
            return "failed", recorded.removeprefix(FAILED_PREFIX)
        return STORED, "Stored by an earlier request for the same attempt."
    if outcome.status != "stored":
        return "failed", f"not stored ({outcome.status})"
    if outcome.errors:
        return STORED, "Stored; its payload did not parse (see the parse errors)."
    return STORED, ""


def _fold_new_dead_letters(row: DeadLetter, batch_id: uuid.UUID) -> bool:
    """Replace `row`'s error with that of the dead letter the replay batch produced, and delete that one."""
    new = list(DeadLetter.objects.filter(batch=batch_id).exclude(pk=row.pk).order_by("-created_at"))
    if not new:
        return False
    row.error_kind, row.error = new[0].error_kind, new[0].error
    DeadLetter.objects.filter(pk__in=[letter.pk for letter in new]).delete()
    return True


def _result(row: DeadLetter, status: str, detail: str) -> ReplayResult:
    return ReplayResult(row.pk, status, detail, row.replay_count, row.replay_result)
