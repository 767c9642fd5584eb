"""Print how fast a re-parse turns archived payloads into readings: `python -m bench.reparse [messages]`.

On the configured database: a topic with `messages` archived JSON payloads (five numeric values each, one
arrival time per 100 messages, as listener reads group them), first parsed by a parser that rejects them all
(no readings), then re-parsed with generic_json (five readings a message), then re-parsed again (each chunk
replacing what the previous run wrote, as a second run of a job does). The site and its rows are deleted at the
end. Figures: messages and readings a second, and the CPU of this process (parsing, the worker's share).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from django.utils import timezone  # noqa: E402

from mqtt_app.ingest import archive, reparse  # noqa: E402
from mqtt_app.models import MqttConnection, MqttTopic, ReparseJob, Site  # noqa: E402

SITE = "bench-reparse"
PER_READ = 100  # messages sharing one arrival time


def setup(count: int) -> MqttTopic:
    Site.objects.filter(name=SITE).delete()
    site = Site.objects.create(name=SITE)
    connection = MqttConnection.objects.create(site=site, name="c", host="127.0.0.1", keep_raw_days=7)
    now = timezone.now()
    topic = MqttTopic.objects.create(connection=connection, topic="plant/boiler", is_processable=True,
                                     parser_name="plain_number", first_seen_at=now, last_seen_at=now)  # fmt: skip
    start = now - timedelta(hours=1)
    rows = []
    for n in range(count):
        at = start + timedelta(milliseconds=(n // PER_READ) * 10)
        payload = f'{{"t1": {n}, "t2": {n + 0.5}, "p1": {n * 2}, "p2": 1.5, "flow": 3}}'.encode()
        rows.append((connection.pk, topic.pk, at, payload, 1, False))
    for first in range(0, count, 10_000):
        archive.save(rows[first : first + 10_000])
    return topic


def timed(topic: MqttTopic, label: str) -> None:
    now = timezone.now()
    job = ReparseJob.objects.create(topic=topic, since=now - timedelta(hours=2), until=now, parser_name="generic_json")
    wall, cpu = time.perf_counter(), time.process_time()
    done = reparse.run(job.pk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert done is not None and done.state == "done", done
    print(f"{label}: {done.done:,} messages, {done.readings:,} readings in {wall:.1f} s: "
          f"{done.done / wall:,.0f} messages/s, {done.readings / wall:,.0f} readings/s; "
          f"this process's CPU {cpu / done.done * 1e6:.0f} µs/message")  # fmt: skip


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    topic = setup(count)
    try:
        timed(topic, "first re-parse (nothing to replace)")
        timed(topic, "second re-parse (replaces the first's readings)")
    finally:
        Site.objects.filter(name=SITE).delete()


if __name__ == "__main__":
    main()
