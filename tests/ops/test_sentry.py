"""Sentry for real, offline: events reach a local endpoint with tags and fingerprints, and no secret."""

from __future__ import annotations

import logging

import pytest
import sentry_sdk
from django.test import override_settings

from mqtt_app.observability.sentry import capture_parse_failure
from project.sentry import init_sentry
from tests.helpers import Process, celery_bin, wait_for, worker_command
from tests.ops.sentry_sink import SentrySink

BROKER_PASSWORD = "broker-secret-pw"  # noqa: S105 - the secret the tests look for
API_TOKEN = "bearer-token-xyz123"  # noqa: S105


@pytest.fixture
def sink():
    instance = SentrySink().start()
    yield instance
    instance.stop()


@pytest.fixture
def sentry_here(sink):
    """Sentry on in this test process, pointed at the sink; off again afterwards."""
    init_sentry(dsn=sink.dsn, environment="ops-test", release="mqttmon@1.2.3", traces_sample_rate=0.0)
    yield sink
    sentry_sdk.flush(timeout=5)
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)
    sentry_sdk.get_isolation_scope().clear()  # the test client does not isolate requests as servers do


def exception_events(sink: SentrySink) -> list[dict]:
    return [e for e in sink.events() if e.get("exception")]


def assert_no_secrets(sink: SentrySink, *secrets: str) -> None:
    text = sink.all_text()
    assert text, "no envelope arrived"
    for secret in (BROKER_PASSWORD, API_TOKEN, *secrets):
        assert secret not in text


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.ops.urls")
def test_a_view_exception_arrives_tagged_and_without_session_or_token(sentry_here, client, django_user_model):
    client.force_login(django_user_model.objects.create_user("ops", password="pw-123456"))
    session_id = client.cookies["sessionid"].value
    client.raise_request_exception = False

    response = client.get(
        "/ops-test/boom/?token=" + API_TOKEN,
        HTTP_AUTHORIZATION=f"Bearer {API_TOKEN}",
        HTTP_X_BROKER_PASSWORD=BROKER_PASSWORD,
    )
    sentry_sdk.flush(timeout=5)

    assert response.status_code == 500
    event = wait_for(lambda: exception_events(sentry_here), what="the view exception")[0]
    assert event["exception"]["values"][-1]["value"] == "the view failed on purpose"
    assert event["environment"] == "ops-test" and event["release"] == "mqttmon@1.2.3"
    assert {"connection": "7", "site": "View Site", "topic": "site/7/telemetry"}.items() <= event["tags"].items()
    assert_no_secrets(sentry_here, session_id)


@pytest.mark.django_db
def test_a_parse_failure_is_grouped_by_a_stable_fingerprint_and_throttled(sentry_here):
    common = {
        "connection_id": 3,
        "site": "North",
        "parser": "senml",
        "kind": "validation",
        "message": "Input should be a valid number",
        "payload_excerpt": '[{"n":"t","v":"x"}]',
    }

    first = capture_parse_failure(topic="senml/dev-1/data", location="0.v", **common)
    repeat = capture_parse_failure(topic="senml/dev-2/data", location="0.v", **common)  # same pattern
    other = capture_parse_failure(topic="senml/dev-1/data", location="0.n", **common)
    sentry_sdk.flush(timeout=5)

    assert first and other and repeat is None
    events = wait_for(lambda: len(sentry_here.events()) >= 2 and sentry_here.events(), what="two events")
    by_location = {e["extra"]["location"]: e for e in events}
    assert by_location["0.v"]["fingerprint"] == [
        "mqtt-parse-failure",
        "3",
        "senml/+/data",
        "senml",
        "validation",
        "*.v",  # array positions are the device's to choose: one issue for any element
    ]
    assert by_location["0.v"]["tags"]["connection"] == "3"
    assert by_location["0.v"]["tags"]["site"] == "North"
    assert by_location["0.v"]["tags"]["topic"] == "senml/dev-1/data"
    assert by_location["0.v"]["level"] == "warning"
    assert by_location["0.v"]["message"] == by_location["0.n"]["message"].replace("0.n", "0.v")


@pytest.mark.django_db
def test_a_logged_error_arrives_without_the_broker_password(sentry_here):
    logging.getLogger("mqtt.connections").error(
        "connection %s failed: mqtt://operator:%s@broker.example:1883 password=%s",
        5,
        BROKER_PASSWORD,
        BROKER_PASSWORD,
    )
    sentry_sdk.flush(timeout=5)

    event = wait_for(lambda: sentry_here.events(), what="the logged error")[0]
    assert event["logger"] == "mqtt.connections" and event["level"] == "error"
    assert "connection 5 failed" in str(event.get("logentry") or event.get("message"))
    assert_no_secrets(sentry_here)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_task_failure_in_a_real_worker_arrives_tagged_and_scrubbed(sink, process_env, tmp_path):
    env = {**process_env, "SENTRY_DSN": sink.dsn, "SENTRY_ENVIRONMENT": "ops-worker"}
    worker = Process(
        worker_command("sentry@%h", queues="default", pool="solo", extra=("--include", "tests.ops.sentry_tasks")),
        env=env,
        log_path=tmp_path / "worker.log",
    )
    try:
        from project.celery import app

        wait_for(lambda: app.control.ping(timeout=0.5), timeout=30, what="the worker")
        app.send_task(
            "tests.ops.explode", args=[11], kwargs={"password": BROKER_PASSWORD, "token": API_TOKEN}, queue="default"
        )
        event = wait_for(lambda: exception_events(sink), timeout=20, what="the task failure")[0]
    finally:
        worker.stop()

    assert event["environment"] == "ops-worker"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert "mqtt://operator:[Filtered]@broker.example" in event["exception"]["values"][-1]["value"]
    assert {
        "connection": "11",
        "site": "Sentry Site",
        "celery_task_id": event["tags"]["celery_task_id"],
    }.items() <= event["tags"].items()
    assert event["extra"]["celery-job"]["task_name"] == "tests.ops.explode"
    assert_no_secrets(sink)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_beat_started_reconcile_checks_in_to_the_sentry_cron_monitor(sink, process_env, tmp_path):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from mqtt_app.services.schedule import RECONCILE_TASK_NAME, ensure_periodic_tasks

    ensure_periodic_tasks()
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    # A 1 s schedule, so beat sends a reconcile at once (set before beat starts: no change signal needed).
    PeriodicTask.objects.filter(name=RECONCILE_TASK_NAME).update(interval=every_second, expire_seconds=None)
    env = {**process_env, "SENTRY_DSN": sink.dsn, "MQTT_RECONCILE_INTERVAL": "1"}
    worker = Process(
        worker_command("cron@%h", queues="control,default", pool="solo"),
        env=env,
        log_path=tmp_path / "worker.log",
    )
    beat = Process(
        [celery_bin(), "-A", "project", "beat", "--loglevel", "INFO", "--pidfile", ""],
        env=env,
        log_path=tmp_path / "beat.log",
    )
    try:
        check_in = wait_for(lambda: sink.events("check_in"), timeout=40, what="a reconcile check-in")[0]
    finally:
        beat.stop()
        worker.stop()

    assert check_in["monitor_slug"] == "mqtt-reconcile"
    assert check_in["status"] == "ok"
    assert check_in["monitor_config"]["schedule"] == {"type": "interval", "value": 1, "unit": "minute"}
    assert check_in["duration"] is not None


def test_a_reconcile_asked_for_by_a_click_does_not_check_in(sentry_here):
    from types import SimpleNamespace

    from mqtt_app.observability.sentry import RECONCILE_TASK, reconcile_check_in

    clicked = SimpleNamespace(name=RECONCILE_TASK, request=SimpleNamespace(headers=None, periodic_task_name=None))
    reconcile_check_in(sender=clicked, result={"seconds": 0.1})
    sentry_sdk.capture_message("marker")  # something to wait for: envelopes arrive in order
    sentry_sdk.flush(timeout=5)

    wait_for(lambda: sentry_here.events(), what="the marker event")
    assert sentry_here.events("check_in") == []
