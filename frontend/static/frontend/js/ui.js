// Small DOM helpers shared by the pages: element builder, per-frame update batching, formatting, toasts.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Coalesce DOM work: many events per frame, one flush per animation frame, last write per key wins.
export class FrameScheduler {
  constructor() { this.pending = new Map(); this.scheduled = false; }
  queue(key, fn) {
    this.pending.set(key, fn);
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => this.flush());
    }
  }
  flush() {
    const work = this.pending;
    this.pending = new Map();
    this.scheduled = false;
    for (const fn of work.values()) {
      try { fn(); } catch (error) { console.error(error); }
    }
  }
}
export const frame = new FrameScheduler();

export function pageData() {
  const node = document.getElementById("page-data");
  return node ? JSON.parse(node.textContent) : {};
}

export function setText(node, text) {
  const value = text == null ? "" : String(text);
  if (node.textContent !== value) node.textContent = value;
}

export function ago(iso, now = Date.now()) {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

export function formatValue(value, unit = "") {
  if (value == null) return "–";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    const text = Number.isInteger(value) ? String(value) : value.toFixed(Math.abs(value) < 10 ? 3 : 2).replace(/0+$/, "");
    return unit ? `${text} ${unit}` : text;
  }
  return unit ? `${value} ${unit}` : String(value);
}

export function formatRate(rate) {
  if (rate == null) return "–";
  return rate >= 100 ? Math.round(rate).toLocaleString() : rate.toFixed(1);
}

const STATUS_LABELS = {
  stopped: "Stopped", starting: "Starting", connected: "Connected", reconnecting: "Reconnecting",
  error: "Error", stopping: "Stopping",
};

export function statusBadge(badge, status, pending = "") {
  const cls = pending ? "pending" : status || "stopped";
  const label = pending ? `${pending}…` : STATUS_LABELS[status] || status || "Unknown";
  if (badge.className !== `badge ${cls}`) badge.className = `badge ${cls}`;
  setText(badge, label);
}

export function toast(message, kind = "") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const node = el("div", { class: `toast ${kind}` }, message);
  box.append(node);
  setTimeout(() => node.remove(), kind === "bad" ? 8000 : 4000);
}

// Counts per key over a sliding window, for "messages per second" from coalesced batch counts.
export class RateMeter {
  constructor(windowMs = 5000) { this.windowMs = windowMs; this.samples = new Map(); }
  add(key, count, at = performance.now()) {
    const list = this.samples.get(key) || [];
    list.push([at, count]);
    this.samples.set(key, list);
  }
  rate(key, at = performance.now()) {
    const list = this.samples.get(key);
    if (!list) return null;
    while (list.length && at - list[0][0] > this.windowMs) list.shift();
    return list.reduce((sum, [, count]) => sum + count, 0) / (this.windowMs / 1000);
  }
}

export function initTheme() {
  const button = document.getElementById("theme-toggle");
  if (!button) return;
  const label = () => {
    const dark = document.documentElement.dataset.theme === "dark";
    button.textContent = dark ? "Light theme" : "Dark theme";
    button.setAttribute("aria-pressed", String(dark));
  };
  label();
  button.addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem("mqttmon-theme", next); } catch { /* private mode */ }
    label();
    document.dispatchEvent(new CustomEvent("themechange"));
  });
}
initTheme();
