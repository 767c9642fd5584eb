"""Celery settings that depend on the broker: Redis (the default) or RabbitMQ (amqp://).

settings.py applies them for CELERY_BROKER_URL; a test that talks to a second broker builds its app with them.
"""

from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue

AMQP_SCHEMES = ("amqp://", "amqps://", "pyamqp://")
QUEUES = ("ingest", "control", "default")
# Redeliveries (a worker killed while holding the message) before RabbitMQ drops a message. RabbitMQ 4 defaults
# to 20, which would silently drop a batch whose workers were killed 20 times; 3.x has no default, and there -1
# (4.x's "no limit") drops a message on its first requeue. A large number means "never" on both.
DELIVERY_LIMIT = 1_000_000


def is_amqp(url: str) -> bool:
    return str(url).startswith(AMQP_SCHEMES)


def quorum_queue(name: str) -> Queue:
    """A durable, replicated queue. Its exchange is a topic one, not Celery's default direct one: Celery routes a
    countdown (the ingest task's retry while the database is away) through RabbitMQ's native delayed delivery
    only for topic exchanges; with a direct one the worker would hold the task, and with quorum queues its
    prefetch cannot grow, so a few of them stall the worker."""
    return Queue(
        name,
        Exchange(name, type="topic", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT},
    )


def amqp_settings() -> dict[str, Any]:
    """Celery settings for RabbitMQ, lower-case names without the CELERY_ prefix. They replace the Redis transport
    options (visibility timeout, restore scans): RabbitMQ redelivers a dead consumer's messages as soon as its
    connection closes."""
    return {
        "task_queues": [quorum_queue(name) for name in QUEUES],
        # A publish returns once RabbitMQ has the message (for a quorum queue: written to a majority of its
        # replicas), so the listener acknowledges MQTT messages only for batches the broker really holds.
        # Without confirms a refused publish (memory alarm, a closed channel) is lost without an error.
        "broker_transport_options": {"confirm_publish": True},
        # Quorum queues ignore a channel-wide (global) prefetch: Celery switches to per-consumer prefetch.
        "worker_detect_quorum_queues": True,
    }
