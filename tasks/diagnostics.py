"""Small tasks for operators: prove the worker is alive end to end (`celery -A project call tasks.diagnostics.ping`)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="tasks.diagnostics.ping")
def ping(value: str = "pong") -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (one,) = cursor.fetchone()
    return {"reply": value, "database": one == 1}
