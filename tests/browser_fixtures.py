"""Browser-test fixtures: a live ASGI server (daphne) on the test database, headless Debian Chromium driven by
Playwright's sync API, a listener process with fast timings, and a page that records console errors.

Playwright downloads no browser here: it drives /usr/bin/chromium through `executable_path`. Tests that use
these fixtures skip (with the reason) only when no Chromium binary exists on the machine.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import Process, free_port, manage_py, port_open, wait_for

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip

# Listener timings for tests (production defaults are slower on purpose).
FAST_LISTENER_ENV = {
    "MQTT_LISTENER_HEARTBEAT": "0.5",
    "MQTT_LISTENER_TTL": "2",
    "MQTT_RECONNECT_MIN_DELAY": "0.2",
    "MQTT_RECONNECT_MAX_DELAY": "1",
    "MQTT_BATCH_INTERVAL": "0.02",
}


LISTENER_ID = "ui-test-listener"


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@dataclass
class LiveServer:
    url: str
    process: Process

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)


@pytest.fixture
def asgi_server(process_env, tmp_path) -> Iterator[LiveServer]:
    """The real ASGI app (HTTP, static files, WebSocket) in a daphne process on this test's database and Redis."""
    port = free_port()
    daphne = str(Path(sys.executable).with_name("daphne"))
    server = Process(
        [daphne, "-b", "127.0.0.1", "-p", str(port), "project.asgi:application"],
        env={**process_env, "DEBUG": "true"},
        log_path=tmp_path / "daphne.log",
    )
    wait_for(lambda: port_open(port) or not server.alive(), timeout=30, what="daphne to listen")
    assert server.alive(), server.output()
    yield LiveServer(f"http://127.0.0.1:{port}", server)
    server.stop()


@pytest.fixture
def listener_process(process_env, tmp_path) -> Iterator[Process]:
    """One `manage.py mqtt_listener` process with fast timings, yielded once its heartbeat is in Redis."""
    import redis as redis_lib
    from django.conf import settings

    from mqtt_app import coordination

    listener = Process(
        manage_py("mqtt_listener", "--id", LISTENER_ID),
        env={**process_env, **FAST_LISTENER_ENV},
        log_path=tmp_path / "listener.log",
    )
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    wait_for(
        lambda: client.exists(coordination.listener_key(LISTENER_ID)) or not listener.alive(),
        timeout=30,
        what="the listener to heartbeat",
    )
    client.close()
    assert listener.alive(), listener.output()
    yield listener
    listener.stop(timeout=10)


@pytest.fixture
def chromium():
    """A headless Chromium per test (Playwright sync API). Per test, not per session: the sync API keeps an
    event loop running in the main thread while it is open, which breaks async_to_sync in later tests."""
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium binary (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class BrowserPage:
    """A Playwright page plus every console error and uncaught exception it produced."""

    page: object
    errors: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)  # WebSocket traffic, newest last, for failure messages

    def record(self, direction: str, payload: object) -> None:
        self.frames.append(f"{direction} {str(payload)[:300]}")
        del self.frames[:-40]

    def login(self, base_url: str, username: str, password: str) -> None:
        page = self.page
        page.goto(f"{base_url}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base_url}/")


@pytest.fixture
def browser_page(chromium) -> Iterator[BrowserPage]:
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    recorded = BrowserPage(page)
    page.on("console", lambda message: recorded.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: recorded.errors.append(f"uncaught: {error}"))

    def watch(socket) -> None:  # noqa: ANN001
        socket.on("framereceived", lambda payload: recorded.record("<", payload))
        socket.on("framesent", lambda payload: recorded.record(">", payload))

    page.on("websocket", watch)
    yield recorded
    context.close()
