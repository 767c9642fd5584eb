"""Re-parsing a topic's archived payloads (mqtt_app/ingest/reparse.py), one job per task, visible in Flower."""

from __future__ import annotations

from celery import Task, shared_task

MAX_RETRIES = 5


@shared_task(bind=True, name="tasks.reparse.reparse_topic", ignore_result=True)
def reparse_topic(self: Task, job_id: int) -> dict:
    """Run the job; a database that went away is retried (the job starts over: each chunk replaces, so a
    chunk done twice gives the same rows). A killed worker's job is redelivered the same way (acks_late)."""
    from mqtt_app.ingest.isolate import TRANSIENT
    from mqtt_app.ingest.reparse import run

    try:
        job = run(job_id)
    except TRANSIENT as exc:
        cause = exc if isinstance(exc, Exception) else None
        raise self.retry(exc=cause, countdown=2 ** min(self.request.retries, 6), max_retries=MAX_RETRIES) from exc
    if job is None:
        return {"job": job_id, "state": "gone"}
    return {"job": job.pk, "state": job.state, "done": job.done, "total": job.total, "readings": job.readings}
