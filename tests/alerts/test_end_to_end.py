"""End to end on real services: a real listener and worker, the evaluation task, and a webhook on a local HTTP
server. A connection pointed at a port where no broker listens posts `firing`; a broker started on that port
makes it post `resolved`. A threshold and a topic_silent rule on values published through a real broker likewise."""

from __future__ import annotations

import json

import paho.mqtt.publish as publish
import pytest

from mqtt_app.alerts.models import AlertRule, NotificationChannel
from mqtt_app.alerts.service import evaluate_all
from mqtt_app.models import MqttConnection, MqttTopic, Site
from mqtt_app.services.reconcile import run_reconcile
from tests.brokers import MosquittoBroker
from tests.helpers import free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
WITHIN = 45  # seconds: what the product promises, from start (or from the broker listening) to the webhook


def _rule(site: Site, url: str, **fields) -> AlertRule:  # noqa: ANN003
    rule = AlertRule(site=site, name=f"{fields['kind']} rule", **fields)
    rule.full_clean()
    rule.save()
    NotificationChannel.objects.create(rule=rule, type="webhook", target=url)
    return rule


def _posted(receiver, state: str, kind: str) -> bool:  # noqa: ANN001
    evaluate_all()  # the beat task's body, run here every half second instead of every 15 s
    return any(body["state"] == state and body["rule"]["kind"] == kind for body in receiver.bodies())


def test_a_connection_without_a_broker_fires_then_resolves_when_one_listens(
    tmp_path, receiver, celery_worker_process, listener_factory, redis_client
):
    site = Site.objects.create(name="Remote plant")
    port = free_port()
    connection = MqttConnection.objects.create(site=site, name="remote", host="127.0.0.1", port=port,
                                               topics=[{"filter": "site/#", "qos": 1}])  # fmt: skip
    _rule(site, receiver.url, kind="connection_down", connection=connection, for_seconds=5)
    listener_factory("L1")
    run_reconcile()
    wait_for(lambda: _posted(receiver, "firing", "connection_down"), timeout=WITHIN, interval=0.5,
             what="the firing webhook")  # fmt: skip
    firing = next(body for body in receiver.bodies() if body["state"] == "firing")
    assert (firing["connection"], firing["site"], firing["topic"]) == (connection.pk, site.pk, None)

    broker = MosquittoBroker(tmp_path / "broker", port=port)
    broker.start()
    try:
        wait_for(lambda: _posted(receiver, "resolved", "connection_down"), timeout=WITHIN, interval=0.5,
                 what="the resolved webhook")  # fmt: skip
    finally:
        broker.stop()
    assert [body["state"] for body in receiver.bodies()] == ["firing", "resolved"]


def test_a_threshold_and_a_silent_topic_fire_and_resolve_from_published_values(
    broker, receiver, celery_worker_process, listener_factory, redis_client
):
    site = Site.objects.create(name="Cold store")
    connection = MqttConnection.objects.create(site=site, name="store", host=broker.host, port=broker.port,
                                               topics=[{"filter": "store/#", "qos": 1}])  # fmt: skip
    listener_factory("L1")
    run_reconcile()
    wait_for(lambda: MqttConnection.objects.get(pk=connection.pk).status == "connected", timeout=WITHIN,
             what="the connection connected")  # fmt: skip

    def send(value: float) -> None:
        publish.single("store/freezer/temp", json.dumps(value), qos=1, hostname=broker.host, port=broker.port)

    send(-20)
    topic = wait_for(lambda: MqttTopic.objects.filter(connection=connection, topic="store/freezer/temp").first(),
                     timeout=WITHIN, what="the topic discovered")  # fmt: skip
    MqttTopic.objects.filter(pk=topic.pk).update(is_processable=True, parser_name="plain_number", parser_locked=True)
    _rule(site, receiver.url, kind="threshold", topic=topic, connection=connection, metric="temp", op="gt",
          value=-10, clear_value=-15, for_seconds=0)  # fmt: skip
    _rule(site, receiver.url, kind="topic_silent", connection=connection, filter="store/#", for_seconds=3)

    send(-5)  # warmer than -10: fires
    wait_for(lambda: _posted(receiver, "firing", "threshold"), timeout=WITHIN, interval=0.5, what="threshold firing")
    send(-18)  # colder than the clear value: resolves (and the topic speaks, so it is not silent)
    wait_for(lambda: _posted(receiver, "resolved", "threshold"), timeout=WITHIN, interval=0.5,
             what="threshold resolved")  # fmt: skip
    wait_for(lambda: _posted(receiver, "firing", "topic_silent"), timeout=WITHIN, interval=0.5,
             what="topic_silent firing")  # fmt: skip
    send(-19)
    wait_for(lambda: _posted(receiver, "resolved", "topic_silent"), timeout=WITHIN, interval=0.5,
             what="topic_silent resolved")  # fmt: skip
    threshold = next(b for b in receiver.bodies() if b["rule"]["kind"] == "threshold" and b["state"] == "firing")
    assert (threshold["topic"], threshold["value"]) == (topic.pk, -5)
