"""Publish-to-screen latency of the web UI, measured in a real browser. Prints figures; not a test.

It runs the whole pipeline on this machine: a private Mosquitto, a listener, a Celery worker, daphne (ASGI)
and headless Chromium on the topic page. The publisher puts its own send time (epoch ms) in each payload;
a MutationObserver in the page records when each value reaches the DOM. Latency = DOM time - send time
(one clock: same machine). At each rate, messages go to TOPICS topics of one connection; the page watches
the first one (the server sends at most MQTT_LIVE_READINGS_PER_SECOND updates per topic, so every screen
update is measured, not every message).

    .venv/bin/python -m bench.ui_latency [--rates 10,1000] [--seconds 10] [--redis-db 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOPICS = 10
OBSERVER = """() => {
  window.__seen = [];
  const node = document.getElementById("live-value");
  new MutationObserver(() => window.__seen.push([Date.now(), node.textContent]))
    .observe(node, {childList: true, characterData: true, subtree: true});
}"""


def environment(tmp: Path, redis_db: int, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url:  # an empty database of its own, e.g. postgres://postgres@127.0.0.1:5432/mqttmon_ui_bench
        env["DATABASE_URL"] = database_url
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings", SQLITE_PATH=str(tmp / "db.sqlite3"), DEBUG="true",
        REDIS_URL=f"redis://127.0.0.1:6379/{redis_db}", REDIS_KEY_PREFIX="mqttmon-bench-ui", LOG_DIR=str(tmp / "logs"),
        PYTHONUNBUFFERED="1", DJANGO_ALLOW_ASYNC_UNSAFE="true", MQTT_LISTENER_HEARTBEAT="0.5", MQTT_LISTENER_TTL="2",
        MQTT_BATCH_INTERVAL=os.environ.get("MQTT_BATCH_INTERVAL", "0.025"),
    )  # fmt: skip
    return env


def start_stack(tmp: Path, env: dict[str, str]) -> tuple[list, object, int]:
    from faults.procs import MosquittoBroker, Process, celery_bin, free_port, manage_py, port_open, wait_for

    broker = MosquittoBroker(tmp / "broker")
    broker.start()
    port = free_port()
    daphne = str(Path(sys.executable).with_name("daphne"))
    processes = [
        Process([celery_bin(), "-A", "project", "worker", "-Q", "ingest,control,default", "--concurrency", "1",
                 "--without-gossip", "--without-mingle", "-n", "bench-ui@%h"], env=env, log_path=tmp / "worker.log"),
        Process(manage_py("mqtt_listener", "--id", "bench-ui"), env=env, log_path=tmp / "listener.log"),
        Process([daphne, "-b", "127.0.0.1", "-p", str(port), "project.asgi:application"], env=env,
                log_path=tmp / "daphne.log"),
    ]  # fmt: skip
    wait_for(lambda: port_open(port), timeout=60, what="daphne")
    return [*processes, broker], broker, port


def prepare_data(broker) -> tuple[int, str]:  # noqa: ANN001
    from django.contrib.auth import get_user_model

    from mqtt_app.models import MqttConnection, Site
    from mqtt_app.services.control import set_active

    get_user_model().objects.create_user("bench", password="bench-pass", is_staff=True)  # noqa: S106 - throwaway user
    site = Site.objects.create(name="Bench")
    connection = MqttConnection.objects.create(
        site=site,
        name="bench",
        host=broker.host,
        port=broker.port,
        is_active=False,
        topics=[{"filter": "bench/#", "qos": 1}],
    )
    set_active([connection.pk], True)
    return connection.pk, "bench-pass"


def publisher(broker):  # noqa: ANN001, ANN201
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-ui-publisher")
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def publish_at(client, rate: float, seconds: float) -> int:  # noqa: ANN001
    """Publish `rate` messages per second for `seconds`, round-robin over TOPICS topics, paced by the clock."""
    start = time.perf_counter()
    total = int(rate * seconds)
    for n in range(total):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        client.publish(f"bench/{n % TOPICS}", json.dumps({"t": int(time.time() * 1000)}), qos=1)
    return total


def latencies(seen: list, since_ms: float) -> list[float]:
    out = []
    for shown_at, text in seen:
        parts = text.split()
        if len(parts) >= 2 and parts[0] == "t" and parts[1].isdigit() and int(parts[1]) >= since_ms:
            out.append(shown_at - int(parts[1]))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    env = environment(tmp, args.redis_db, args.database_url)
    if "DATABASE_URL" not in env:
        os.environ.pop("DATABASE_URL", None)  # this process must migrate the same database the children use
    os.environ.update(env)
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    from faults.procs import wait_for
    from mqtt_app.models import MqttConnection, MqttTopic
    from tests.browser_fixtures import CHROMIUM_ARGS, chromium_path

    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    call_command("migrate", verbosity=0)
    stack, broker, port = start_stack(tmp, env)
    base = f"http://127.0.0.1:{port}"
    try:
        connection_id, password = prepare_data(broker)
        wait_for(
            lambda: MqttConnection.objects.get(pk=connection_id).status == "connected",
            timeout=60,
            what="the connection to connect",
        )
        client = publisher(broker)
        client.publish("bench/0", json.dumps({"t": 0}), qos=1)
        topic = wait_for(
            lambda: MqttTopic.objects.filter(connection_id=connection_id, topic="bench/0").first(),
            timeout=30,
            what="the watched topic",
        )
        if not topic.is_processable:
            MqttTopic.objects.filter(pk=topic.pk).update(is_processable=True, parser_name="generic_json")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{base}/accounts/login/")
            page.fill("#id_username", "bench")
            page.fill("#id_password", password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            page.goto(f"{base}/topics/{topic.pk}/")
            page.locator(f'#live-state[data-subscribed~="{connection_id}"]').wait_for()
            page.evaluate(OBSERVER)
            print(f"publish-to-screen latency, {TOPICS} topics on one connection, page on one of them")
            for rate in args.rates:
                page.evaluate("() => { window.__seen = []; }")
                since = time.time() * 1000
                sent = publish_at(client, rate, args.seconds)
                page.wait_for_timeout(1500)  # let the last batch reach the screen
                values = latencies(page.evaluate("() => window.__seen"), since)
                if not values:
                    print(f"  {rate:>6.0f} msg/s: no screen update seen ({sent} sent)")
                    continue
                print(
                    f"  {rate:>6.0f} msg/s: sent {sent}, screen updates {len(values)}, p50 "
                    f"{statistics.median(values):.0f} ms, p99 {percentile(values, 0.99):.0f} ms, "
                    f"max {max(values):.0f} ms"
                )
            browser.close()
        client.loop_stop()
        client.disconnect()
    finally:
        for process in reversed(stack):
            process.stop()
        print(f"logs in {tmp}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="10,1000", help="Messages per second, comma separated.")
    parser.add_argument("--seconds", type=float, default=10.0, help="Publishing time per rate.")
    parser.add_argument("--database-url", default="", help="Empty database to use (default: a temporary SQLite).")
    parser.add_argument("--redis-db", type=int, default=int(os.environ.get("BENCH_REDIS_DB", 5)))
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    run(args)


if __name__ == "__main__":
    main()
