"""Re-parse a topic's archived payloads (mqtt_app/models/raw.py) with its current parser, or another one.

Chunk by chunk in order of arrival, each chunk in its own transaction under the connection's lock (as a batch
is stored): the readings of the chunk's messages, found by topic and arrival time (a message's readings carry
its `received_at`), are replaced by what the parser makes of the archived payloads now. A chunk always takes
every message of the arrival times it reaches, so no time is split between two chunks. Running a job twice
gives the same rows; a cancelled job leaves the chunks it finished re-parsed and the rest as they were.

The charts' rollups of the replaced readings' minutes and hours are rebuilt at the job's end (the periodic
roll-up never looks that far back in arrival time): a range can reach back as far as rollup buckets are
open (mqtt_app/history/rollup.py `open_since`, the readings' retention less a day).

Once done, the topic's parse-error groups that lie wholly in the range are re-evaluated: replaced by groups of
what the re-parse still failed on (so fixed failures leave the inbox, and a second run makes the same groups).
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from mqtt_app.events import ReadingsReplacedEvent, broadcast, connection_group, topic_group
from mqtt_app.history import compaction, rollup
from mqtt_app.models import MqttParsingLog, MqttTopic, RawMessage, ReparseJob, ReparseState, TelemetryReading, ValueType
from mqtt_app.models.deletion import lock_connections

from .errors import Tally, create_groups, tally
from .isolate import TRANSIENT
from .parse import SPARKPLUG, parse_topics
from .persist import save_readings
from .topics import TopicBatch, TopicRow
from .wire import Message

logger = logging.getLogger(__name__)

NUMBER = ValueType.NUMBER.value
STATEFUL = {SPARKPLUG}  # parsers whose messages depend on earlier ones: a range cannot be parsed on its own


class Cancelled(Exception):
    pass


def run(job_id: int) -> ReparseJob | None:
    job = ReparseJob.objects.select_related("topic").filter(pk=job_id).first()
    if job is None:
        logger.info("re-parse job %s is gone (its topic was deleted): nothing to do", job_id)
        return None
    if job.finished:
        return job
    archived = RawMessage.objects.filter(topic_id=job.topic_id, received_at__gte=job.since, received_at__lt=job.until)
    job.state, job.total = ReparseState.RUNNING, archived.count()
    job.done = job.readings = job.failures = 0
    job.save(update_fields=["state", "total", "done", "readings", "failures"])
    tallies: dict[str, Tally] = {}
    buckets: set[rollup.Key] = set()
    try:
        after: datetime | None = None
        while (after := _next_chunk(job, archived, after, tallies, buckets)) is not None:
            pass
    except Cancelled:
        _rebuild(buckets)
        _finish(job, ReparseState.CANCELLED)
        if job.done:
            _announce(job)
        return job
    except TRANSIENT:
        raise  # the task retries the job from its start
    except Exception as exc:
        logger.exception("re-parse job %s failed", job.pk)
        _rebuild(buckets)
        _finish(job, ReparseState.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    with transaction.atomic():
        _rebuild(buckets)
        closed, opened = regroup(job, tallies)
        _finish(job, ReparseState.DONE)
        _announce(job)
    logger.info("re-parse job %s: %d messages, %d readings, %d failing; error groups: %d removed, %d made", job.pk,
                job.done, job.readings, job.failures, closed, opened)  # fmt: skip
    return job


def _next_chunk(
    job: ReparseJob, archived: QuerySet, after: datetime | None, tallies: dict[str, Tally], buckets: set[rollup.Key]
) -> datetime | None:
    if ReparseJob.objects.filter(pk=job.pk, state=ReparseState.CANCELLED).exists():
        raise Cancelled
    window = archived if after is None else archived.filter(received_at__gt=after)
    size = int(settings.MQTT_REPARSE_CHUNK)
    last = list(window.order_by("received_at").values_list("received_at", flat=True)[size - 1 : size])
    rows = window.filter(received_at__lte=last[0]) if last else window  # every message of the last time too
    raw = list(rows.order_by("received_at", "id").values_list("received_at", "payload", "qos", "retain"))
    if not raw:
        return None
    topic = job.topic
    messages = [Message(topic.topic, bytes(p), q, r, at) for at, p, q, r in raw]
    entry = TopicBatch(TopicRow(topic.pk, topic.topic, True, job.parser_name), messages)
    parsed = parse_topics(topic.connection_id, [entry])
    times = sorted({m.received_at for m in messages})
    with transaction.atomic():
        lock_connections([topic.connection_id])
        if not MqttTopic.objects.filter(pk=topic.pk).exists():
            raise Cancelled  # deleted meanwhile (the job with it): its readings must not come back
        compaction.expand(topic.pk, times[0], times[-1])  # compacted readings of these arrivals back to rows
        doomed = TelemetryReading.objects.filter(
            topic_id=topic.pk, received_at__gte=times[0], received_at__lte=times[-1], received_at__in=times
        )
        numbers = doomed.filter(value_type=ValueType.NUMBER).values_list("metric", "timestamp")
        buckets.update((topic.pk, metric, rollup.minute_of(at)) for metric, at in numbers)
        doomed.delete()
        written = save_readings(parsed.rows)
        buckets.update(
            (row[1], row[3], rollup.minute_of(row[8])) for row in parsed.rows if row[4] == NUMBER and row[5] is not None
        )
        job.done += len(messages)
        job.readings += written
        job.failures += len(parsed.failures)
        ReparseJob.objects.filter(pk=job.pk).update(done=job.done, readings=job.readings, failures=job.failures)
    tally(parsed.failures, tallies)
    return times[-1]


def _rebuild(buckets: set[rollup.Key]) -> None:
    """The charts' minutes and hours of what the job replaced, once at its end (per chunk, a dense topic's minute
    was recomputed by every chunk that touched it)."""
    with transaction.atomic():
        rollup.rebuild(buckets)


def regroup(job: ReparseJob, tallies: dict[str, Tally]) -> tuple[int, int]:
    """The topic's error groups that lie wholly in the range are replaced by what the re-parse still failed on:
    fixed failures leave the inbox, the others stay (counted as this run found them). Running it twice gives
    the same groups. Groups reaching outside the range are left as they are."""
    groups = MqttParsingLog.objects.filter(topic_id=job.topic_id, first_seen_at__gte=job.since,
                                           last_seen_at__lt=job.until)  # fmt: skip
    return groups.delete()[0], create_groups(tallies)


def _announce(job: ReparseJob) -> None:
    """After commit: open pages showing the topic read its readings again (the connection's and the topic's)."""
    event = ReadingsReplacedEvent(connection=job.topic.connection_id, topic_id=job.topic_id, since=job.since,
                                  until=job.until)  # fmt: skip
    for group in (connection_group(job.topic.connection_id), topic_group(job.topic_id)):
        transaction.on_commit(functools.partial(broadcast, group, event))


def _finish(job: ReparseJob, state: str, error: str = "") -> None:
    job.state, job.error, job.finished_at = state, error, timezone.now()
    ReparseJob.objects.filter(pk=job.pk).update(state=state, error=error, finished_at=job.finished_at)


def dry_run(topic, parser_name: str, since: datetime, until: datetime, limit: int) -> dict:  # noqa: ANN001
    """What `parser_name` makes of the range's first `limit` archived payloads, nothing written."""
    raw = RawMessage.objects.filter(topic_id=topic.pk, received_at__gte=since, received_at__lt=until)
    rows = list(raw.order_by("received_at", "id").values_list("received_at", "payload", "qos", "retain")[:limit])
    messages = [Message(topic.topic, bytes(p), q, r, at) for at, p, q, r in rows]
    parsed = parse_topics(
        topic.connection_id, [TopicBatch(TopicRow(topic.pk, topic.topic, True, parser_name), messages)]
    )
    return {
        "messages": len(messages),
        "readings": len(parsed.rows),
        "failures": len(parsed.failures),
        "errors": [{"kind": f.kind, "message": f.message, "location": f.location} for f in parsed.failures[:5]],
    }
