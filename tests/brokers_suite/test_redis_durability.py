"""A Redis broker that would lose queued batches (nothing on disk, or evicting keys when full) is reported by the
system check and /api/health, each against a private redis-server (never the shared one)."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks

from mqtt_app.checks import check_broker_durability
from mqtt_app.observability.broker import redis_durability
from tests.helpers import free_port

pytestmark = pytest.mark.django_db

NOTHING_ON_DISK = ("--appendonly", "no", "--save", "")
DURABLE = ("--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction")


def check_ids(**kwargs) -> list[str]:
    return [message.id for message in check_broker_durability(None, **kwargs)]


def test_a_redis_without_persistence_is_reported_by_the_check_and_the_health_endpoint(private_redis, settings, client):
    settings.CELERY_BROKER_URL = private_redis(*NOTHING_ON_DISK).url

    found = redis_durability(settings.CELERY_BROKER_URL)
    assert (found.persistence, found.maxmemory_policy) == ("none", "noeviction")
    warnings = check_broker_durability(None)
    assert [w.id for w in warnings] == ["mqtt.W011"]
    assert "keeps nothing on disk" in warnings[0].msg
    assert "mqtt.W011" in [message.id for message in run_checks()]  # registered with Django

    response = client.get("/api/health")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"  # a risk, not an outage
    assert body["broker"] | {"queues": None} == {
        "kind": "redis",
        "ok": True,
        "error": "",
        "queues": None,
        "persistence": "none",
        "maxmemory_policy": "noeviction",
    }
    assert body["broker"]["queues"] == {"ingest": 0, "control": 0, "default": 0}
    assert len(body["warnings"]) == 1 and "keeps nothing on disk" in body["warnings"][0]


def test_an_evicting_policy_is_reported(private_redis, settings, client):
    settings.CELERY_BROKER_URL = private_redis("--appendonly", "yes", "--maxmemory-policy", "allkeys-lru").url

    found = redis_durability(settings.CELERY_BROKER_URL)
    assert (found.persistence, found.maxmemory_policy) == ("aof", "allkeys-lru")
    warnings = check_broker_durability(None)
    assert [w.id for w in warnings] == ["mqtt.W011"]
    assert "maxmemory-policy allkeys-lru" in warnings[0].msg
    assert any("allkeys-lru" in text for text in client.get("/api/health").json()["warnings"])


def test_snapshots_alone_are_reported_as_losing_the_latest_batches(private_redis, settings):
    settings.CELERY_BROKER_URL = private_redis("--appendonly", "no", "--save", "60 1").url

    found = redis_durability(settings.CELERY_BROKER_URL)

    assert found.persistence == "rdb"
    assert ["only takes snapshots" in text for text in found.warnings] == [True]


def test_an_append_only_redis_that_never_evicts_gets_no_warning(private_redis, settings, client):
    settings.CELERY_BROKER_URL = private_redis(*DURABLE).url

    assert check_broker_durability(None) == []
    body = client.get("/api/health").json()
    assert body["warnings"] == [] and body["broker"]["persistence"] == "aof"


def test_with_config_disabled_the_snapshot_setting_is_unknown_but_the_policy_still_read(private_redis, settings):
    # Managed Redis services refuse CONFIG; INFO still tells appendonly and the eviction policy.
    server = private_redis("--appendonly", "no", "--maxmemory-policy", "volatile-lru", "--rename-command", "CONFIG", "")
    settings.CELERY_BROKER_URL = server.url

    found = redis_durability(settings.CELERY_BROKER_URL)

    assert (found.persistence, found.maxmemory_policy) == ("unknown", "volatile-lru")
    assert any("persistence is unknown" in text for text in found.warnings)
    assert any("volatile-lru" in text for text in found.warnings)


def test_a_redis_that_does_not_answer_is_one_warning_and_never_an_error(settings, client):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"

    assert check_ids() == ["mqtt.W010"]
    body = client.get("/api/health").json()
    assert body["broker"]["ok"] is False and body["status"] == "degraded"
    assert "the Celery broker (redis) does not answer" in body["problems"]


def test_a_rabbitmq_broker_needs_no_redis_durability_check(settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"

    assert check_ids() == []
