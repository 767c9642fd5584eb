// Health panels: the success metrics against their targets, from /health/metrics.json.
// Any element with [data-health] becomes a panel: "overall" (dashboard: every metric plus the connections below
// target) or a connection id (connection page: that connection's uptime, parse success and error rate).
import { api } from "./api.js";
import { el, setText } from "./ui.js";

const REFRESH_MS = 30_000; // the figures cover hours: polling faster would only load the database
const WINDOW_KEY = "mqttmon-health-window";
const WINDOWS = ["1h", "24h", "7d"];
const LABELS = {
  uptime: "Uptime", parse_success_rate: "Parse success", error_rate: "Error rate",
  reconcile_seconds: "Reconcile cycle", api_p99_seconds: "API p99", websocket_p99_seconds: "WebSocket p99",
};
const CONNECTION_METRICS = ["uptime", "parse_success_rate", "error_rate"];
const OPS = { ">=": "≥", "<=": "≤", "<": "<", ">": ">" };
const STATES = { true: ["ok", "ok"], false: ["bad", "below target"], null: ["none", "no data"] };

function percent(ratio) {
  const x = ratio * 100;
  const shown = Number(x.toFixed(x < 1 || x >= 99 ? 3 : 1));
  return `${x < 100 ? Math.min(shown, 99.999) : shown} %`; // 99.9996 % is not "100 %"
}

function duration(seconds) {
  if (seconds < 1) return `${Number((seconds * 1000).toFixed(seconds < 0.01 ? 1 : 0))} ms`;
  return `${Number(seconds.toFixed(2))} s`;
}

export function formatMetric(name, value) {
  if (value == null) return "–";
  return name.endsWith("_seconds") ? duration(value) : percent(value);
}

function detail(name, metric, counts) {
  if (name === "uptime" && counts.up_seconds != null) {
    return `up ${duration(counts.up_seconds)}, down ${duration(counts.down_seconds)}`;
  }
  if (name === "parse_success_rate") return `${counts.messages_parsed ?? 0} parsed, ${counts.messages_failed ?? 0} failed`;
  if (name === "error_rate") {
    const parts = [`${metric.dead_letters ?? counts.dead_letters ?? 0} dead letters in ${counts.messages_received ?? 0} messages`];
    if (metric.tasks != null) parts.push(`${metric.tasks_failed} of ${metric.tasks} tasks failed`, `${metric.requests_failed} of ${metric.requests} API answers 5xx`);
    return parts.join(", ");
  }
  if (metric.samples != null) return `${metric.samples} samples`;
  if (metric.age_seconds != null) return `last run ${duration(metric.age_seconds)} ago`;
  return "";
}

function tile(name, metric = {}, counts = {}) {
  const [state, label] = STATES[metric.ok ?? null];
  const target = metric.target == null ? "" : `target ${OPS[metric.op] || metric.op} ${formatMetric(name, metric.target)}`;
  return el("li", { class: "health-metric", dataset: { metric: name, state }, title: detail(name, metric, counts) },
    el("div", { class: "health-row" }, el("span", { class: "label" }, LABELS[name] || name),
      el("span", { class: `tag ${state === "none" ? "" : state}` }, label)),
    el("b", { class: "value" }, formatMetric(name, metric.value)),
    el("span", { class: "target" }, target));
}

function belowTargetItem(row) {
  const failing = Object.entries(row.metrics || {})
    .filter(([, metric]) => metric && metric.ok === false)
    .map(([name, metric]) => `${LABELS[name] || name} ${formatMetric(name, metric.value)}`);
  return el("li", {}, el("a", { href: `/connections/${row.id}/` }, `${row.site} / ${row.name}`),
    el("span", { class: "muted" }, ` — ${failing.join(", ")}`));
}

export class HealthPanel {
  constructor(root) {
    this.root = root;
    this.connection = root.dataset.health === "overall" ? null : Number(root.dataset.health);
    this.list = root.querySelector(".health-metrics");
    this.verdict = root.querySelector(".health-verdict");
    this.status = root.querySelector(".health-status");
    this.below = root.querySelector(".health-below");
    this.buttons = [...root.querySelectorAll("[data-window]")];
    this.window = this.savedWindow();
    this.controller = null;
    this.loadedAt = 0;
    for (const button of this.buttons) button.addEventListener("click", () => this.choose(button.dataset.window));
    this.pressButtons();
  }

  savedWindow() {
    try {
      const saved = localStorage.getItem(WINDOW_KEY);
      return WINDOWS.includes(saved) ? saved : WINDOWS[0];
    } catch { return WINDOWS[0]; } // storage blocked: the default window
  }

  choose(window) {
    this.window = window;
    try { localStorage.setItem(WINDOW_KEY, window); } catch { /* private mode */ }
    this.pressButtons();
    this.load();
  }

  pressButtons() {
    for (const button of this.buttons) button.setAttribute("aria-pressed", String(button.dataset.window === this.window));
  }

  async load() {
    if (this.controller) this.controller.abort(); // a newer window choice wins over a slow older answer
    const controller = new AbortController();
    this.controller = controller;
    const query = new URLSearchParams({ window: this.window });
    if (this.connection != null) query.set("connection", this.connection);
    this.root.setAttribute("aria-busy", "true");
    try {
      this.render(await api(`/health/metrics.json?${query}`, { signal: controller.signal }));
      this.loadedAt = Date.now();
    } catch (error) {
      if (error.name === "AbortError") return;
      setText(this.status, `Could not load health: ${error.message}`);
      this.status.classList.add("reason");
    } finally {
      if (this.controller === controller) { this.controller = null; this.root.removeAttribute("aria-busy"); }
    }
  }

  render(report) {
    const row = this.connection == null ? null : (report.connections || []).find((c) => c.id === this.connection);
    const metrics = this.connection == null ? report.overall || {} : (row && row.metrics) || {};
    const names = this.connection == null ? Object.keys(LABELS) : CONNECTION_METRICS;
    this.list.replaceChildren(...names.map((name) => tile(name, metrics[name], metrics)));
    const healthy = this.connection == null ? report.overall?.healthy : row?.healthy;
    const [state, label] = STATES[healthy ?? null];
    this.verdict.className = `tag health-verdict ${state === "none" ? "" : state}`;
    setText(this.verdict, healthy === true ? "all targets met" : label);
    this.status.classList.remove("reason");
    const time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    setText(this.status, `last ${this.window.replace(/(\d+)/, "$1 ")} · updated ${time}`);
    if (this.below) this.renderBelow(report);
  }

  renderBelow(report) {
    const ids = new Set(report.below_target || []);
    const rows = (report.connections || []).filter((c) => ids.has(c.id));
    const text = rows.length ? `${rows.length} connection${rows.length === 1 ? "" : "s"} below target:`
      : "No connection is below target.";
    const list = rows.length ? [el("ul", {}, rows.map(belowTargetItem))] : [];
    this.below.replaceChildren(el("p", { class: "muted" }, text), ...list);
  }

  start() {
    this.load();
    setInterval(() => { if (!document.hidden) this.load(); }, REFRESH_MS);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && Date.now() - this.loadedAt > REFRESH_MS) this.load();
    });
  }
}

for (const root of document.querySelectorAll("[data-health]")) new HealthPanel(root).start();
