// Dashboard: every site's connections, live status badges, filters that stay fast with many rows.
import { fetchAll } from "./api.js";
import { LiveEvents } from "./live.js";
import { StartStop } from "./control.js";
import { ago, el, formatRate, frame, pageData, setText, statusBadge } from "./ui.js";

const page = pageData();
const siteNames = new Map(page.sites.map((s) => [s.id, s.name]));
const connections = new Map(); // id -> merged status event + API fields
const rows = new Map(); // id -> cached cells
const rates = new Map(); // id -> messages per second (from stats events)
const rateSeen = new Map(); // id -> when its last stats event came (ms)
const RATE_STALE_MS = 12000; // the server's rate window is 10 s: no stats event for longer means no traffic
const body = document.getElementById("connection-rows");
const search = document.getElementById("search");
const stateFilter = document.getElementById("state-filter");
let structureDirty = true;
let ready = false;

const control = new StartStop((id) => frame.queue(`row:${id}`, () => updateRow(id)));

function mismatch(c) {
  return c.is_active ? c.status !== "connected" : c.status !== "stopped";
}

function buildRow(c) {
  const cells = {
    name: el("a", { href: `/connections/${c.connection}/` }),
    host: el("div", { class: "muted mono" }),
    badge: el("span", { class: "badge" }),
    desired: el("div", { class: "desired" }),
    reason: el("div", { class: "reason" }),
    age: el("td", { class: "hide-sm" }),
    rate: el("td", { class: "num" }),
    listener: el("td", { class: "hide-sm mono" }),
    restarts: el("td", { class: "num hide-sm" }),
    button: page.operable_sites.includes(c.site) ? el("button", { type: "button", class: "small", onclick: () => control.toggle(connections.get(c.connection)) }) : null,
  };
  cells.tr = el("tr", { dataset: { id: c.connection } },
    el("td", {}, cells.name, cells.host),
    el("td", {}, cells.badge, cells.desired, cells.reason),
    cells.age, cells.rate, cells.listener, cells.restarts,
    el("td", { class: "num" }, cells.button));
  rows.set(c.connection, cells);
  return cells;
}

function updateRow(id) {
  const c = connections.get(id);
  const cells = rows.get(id);
  if (!c || !cells) return;
  setText(cells.name, c.name);
  setText(cells.host, c.host ? `${c.host}:${c.port}` : "");
  statusBadge(cells.badge, c.status, control.label(id));
  setText(cells.desired, c.is_active ? "desired: running" : "desired: stopped");
  cells.desired.classList.toggle("mismatch", mismatch(c) && !control.label(id));
  setText(cells.reason, control.errors.get(id) || (c.status === "error" ? c.detail : ""));
  cells.reason.title = cells.reason.textContent;
  setText(cells.age, ago(c.last_message_at));
  setText(cells.rate, formatRate(rates.get(id)));
  setText(cells.listener, c.listener || "–");
  setText(cells.restarts, c.restart_count ?? 0);
  if (cells.button) {
    setText(cells.button, c.is_active ? "Stop" : "Start");
    cells.button.classList.toggle("danger", c.is_active);
    cells.button.disabled = Boolean(control.label(id));
    cells.button.setAttribute("aria-label", `${c.is_active ? "Stop" : "Start"} ${c.name}`);
  }
  cells.search = `${siteNames.get(c.site) || ""} ${c.name} ${c.host || ""} ${c.listener || ""} ${c.status}`.toLowerCase();
}

function rebuild() {
  structureDirty = false;
  const bySite = new Map();
  for (const c of connections.values()) {
    if (!bySite.has(c.site)) bySite.set(c.site, []);
    bySite.get(c.site).push(c);
  }
  const sites = [...bySite.keys()].sort((a, b) => (siteNames.get(a) || "").localeCompare(siteNames.get(b) || ""));
  const fragment = document.createDocumentFragment();
  for (const site of sites) {
    const header = el("tr", { class: "site-row", dataset: { site } },
      el("th", { colspan: 7, scope: "colgroup" }, siteNames.get(site) || `Site #${site}`));
    fragment.append(header);
    for (const c of bySite.get(site).sort((a, b) => a.name.localeCompare(b.name))) {
      const cells = rows.get(c.connection) || buildRow(c);
      cells.site = site;
      updateRow(c.connection);
      fragment.append(cells.tr);
    }
  }
  if (!connections.size) {
    fragment.append(el("tr", {}, el("td", { colspan: 7, class: "empty" },
      "No connections yet. ", page.managed_sites.length ? el("a", { href: "/admin/mqtt/mqttconnection/add/" }, "Add one") : "Ask an administrator to add one.")));
  }
  body.replaceChildren(fragment);
  applyFilter();
}

function applyFilter() {
  const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const state = stateFilter.value;
  const visibleSites = new Set();
  let shown = 0;
  for (const [id, cells] of rows) {
    const c = connections.get(id);
    const matches = words.every((w) => cells.search.includes(w))
      && (!state || (state === "mismatch" ? mismatch(c) : c.status === state));
    if (cells.tr.hidden === matches) cells.tr.hidden = !matches;
    if (matches) { shown += 1; visibleSites.add(cells.site); }
  }
  for (const header of body.querySelectorAll("tr.site-row")) header.hidden = !visibleSites.has(Number(header.dataset.site));
  setText(document.getElementById("shown-count"), rows.size ? `${shown} of ${rows.size} shown` : "");
}

function updateSummary() {
  let connected = 0, errors = 0, mismatched = 0, total = 0;
  for (const c of connections.values()) {
    connected += c.status === "connected";
    errors += c.status === "error";
    mismatched += mismatch(c);
  }
  for (const rate of rates.values()) total += rate;
  setText(document.getElementById("sum-total"), connections.size);
  setText(document.getElementById("sum-connected"), connected);
  setText(document.getElementById("sum-error"), errors);
  setText(document.getElementById("sum-mismatch"), mismatched);
  setText(document.getElementById("sum-rate"), formatRate(total));
}

function merge(id, fields) {
  const known = connections.get(id);
  if (!known) structureDirty = true;
  connections.set(id, Object.assign(known || { connection: id }, fields));
}

function render(id) {
  if (!ready) return;
  if (structureDirty) frame.queue("rebuild", rebuild);
  else frame.queue(`row:${id}`, () => { updateRow(id); applyFilterSoon(); });
  frame.queue("summary", updateSummary);
}

let filterTimer = null;
function applyFilterSoon() {
  if (!stateFilter.value || filterTimer) return; // only a state filter changes with live events
  filterTimer = setTimeout(() => { filterTimer = null; applyFilter(); }, 250);
}

function onEvent(event) {
  if (event.type === "connection.status") {
    const isNew = !connections.has(event.connection);
    merge(event.connection, event);
    control.confirm(event);
    if (!siteNames.has(event.site)) loadSitesSoon();
    if (isNew && ready && live.subscriptions.size < page.max_subscriptions) live.subscribe(event.connection, ["stats"]);
    render(event.connection);
  } else if (event.type === "connection.deleted") {
    forget(event.connection);
  } else if (event.type === "stats") {
    rates.set(event.connection, event.messages_per_second);
    rateSeen.set(event.connection, Date.now());
    const c = connections.get(event.connection);
    if (c && event.messages_per_second > 0) c.last_message_at = new Date().toISOString();
    render(event.connection);
  } else if (event.type === "ready") {
    ready = true;
    frame.queue("rebuild", rebuild);
    frame.queue("summary", updateSummary);
    subscribeStats();
  }
}

// A connection deleted anywhere leaves every open dashboard at once.
function forget(id) {
  if (!connections.has(id)) return;
  connections.delete(id);
  rates.delete(id);
  rateSeen.delete(id);
  const cells = rows.get(id);
  if (cells) cells.tr.remove();
  rows.delete(id);
  structureDirty = true;
  if (ready) { frame.queue("rebuild", rebuild); frame.queue("summary", updateSummary); }
}

// A connection of a site created after the page was loaded: learn the site's name.
let sitesTimer = null;
function loadSitesSoon() {
  if (sitesTimer) return;
  sitesTimer = setTimeout(async () => {
    sitesTimer = null;
    try {
      for (const site of await fetchAll("/api/sites")) siteNames.set(site.id, site.name);
      if (ready) frame.queue("rebuild", rebuild);
    } catch (error) {
      console.warn("could not load sites from the API:", error.message);
    }
  }, 300);
}

function subscribeStats() {
  const ids = [...connections.keys()].slice(0, page.max_subscriptions);
  for (const id of ids) live.subscribe(id, ["stats"]);
}

async function resync() {
  // The socket re-sends every status on connect; the API adds host/port and catches anything missed,
  // connections deleted while the socket was down among it.
  try {
    const listed = await fetchAll("/api/connections");
    const present = new Set(listed.map((c) => c.id));
    for (const id of [...connections.keys()]) if (!present.has(id)) forget(id);
    for (const c of listed) {
      const site = typeof c.site === "object" && c.site ? c.site.id : c.site;
      merge(c.id, { site, name: c.name, host: c.host, port: c.port, is_active: c.is_active, status: c.status,
        detail: c.status_detail ?? "", listener: c.listener ?? "", last_message_at: c.last_message_at });
    }
    if (ready) { frame.queue("rebuild", rebuild); frame.queue("summary", updateSummary); }
  } catch (error) {
    console.warn("could not load connections from the API:", error.message);
  }
}

const live = new LiveEvents({ onEvent, onResync: resync });
search.addEventListener("input", () => frame.queue("filter", applyFilter));
stateFilter.addEventListener("change", applyFilter);
document.addEventListener("keydown", (e) => {
  if (e.key === "/" && document.activeElement.tagName !== "INPUT") { e.preventDefault(); search.focus(); }
});
setInterval(() => {
  if (!ready) return;
  const now = Date.now();
  for (const [id, at] of rateSeen) {
    if (now - at > RATE_STALE_MS) { rates.set(id, 0); rateSeen.delete(id); render(id); }
  }
  frame.queue("ages", () => {
    for (const [id, cells] of rows) if (!cells.tr.hidden) setText(cells.age, ago(connections.get(id).last_message_at, now));
  });
}, 1000);
