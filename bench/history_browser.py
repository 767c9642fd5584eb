"""The browser half of bench.history: how long the topic page takes to draw a range, in headless Chromium.

From the click on a range button to the first frame painted after the chart is built: the /api/series request
(through daphne, the ASGI server), the JSON, and uPlot's drawing. Alternates 24 h and 30 d so each click
asks for a new range.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

# Resolves with the milliseconds from the click to the first frame after the chart of `kind` is drawn.
DRAW = """([kind, source]) => new Promise((resolve) => {
  const chart = document.getElementById("chart");
  delete chart.dataset.drawn;
  const start = performance.now();
  const seen = new MutationObserver(() => {
    if (chart.dataset.drawn && chart.dataset.source === source) {
      seen.disconnect();
      requestAnimationFrame(() => resolve(performance.now() - start));
    }
  });
  seen.observe(chart, { attributes: true });
  document.querySelector(`[data-range="${kind}"]`).click();
})"""


def chart_draw_times(topic_id: int, username: str, password: str, runs: int) -> dict[str, list[float]]:
    from faults.procs import Process, free_port, port_open, wait_for
    from tests.browser_fixtures import CHROMIUM_ARGS, chromium_path

    path = chromium_path()
    if path is None:
        sys.exit("no Chromium binary (apt-get install chromium)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-history-"))
    port = free_port()
    daphne = Process([str(Path(sys.executable).with_name("daphne")), "-b", "127.0.0.1", "-p", str(port),
                      "project.asgi:application"], env={**os.environ, "PYTHONUNBUFFERED": "1"},
                     log_path=tmp / "daphne.log")  # fmt: skip
    times: dict[str, list[float]] = {"24h": [], "30d": []}
    try:
        wait_for(lambda: port_open(port), timeout=60, what="daphne")
        from playwright.sync_api import sync_playwright

        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{base}/accounts/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            page.goto(f"{base}/topics/{topic_id}/")
            page.locator("#chart[data-drawn]").wait_for(timeout=60_000)  # the first range (1 h)
            for _ in range(runs):
                times["24h"].append(page.evaluate(DRAW, ["24h", "minute"]))
                times["30d"].append(page.evaluate(DRAW, ["30d", "hour"]))
            browser.close()
    finally:
        daphne.stop()
    return times


def report(times: dict[str, list[float]]) -> None:
    for kind, values in times.items():
        print(f"  browser, click {kind} to chart drawn: p50 {statistics.median(values):.0f} ms, "
              f"max {max(values):.0f} ms ({len(values)} draws)")  # fmt: skip
