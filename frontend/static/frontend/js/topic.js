// Topic page: chart of series over a range (/api/series), live values, last payload, parser choice, export.
import { api, fetchAll, items } from "./api.js";
import { LiveEvents } from "./live.js";
import { PALETTE, SeriesChart } from "./series_chart.js";
import { el, formatValue, frame, pageData, setText, toast } from "./ui.js";

const page = pageData();
const topic = page.topic;
const chart = new SeriesChart(document.getElementById("chart"));
const RANGES = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
const range = { kind: "1h", since: null, until: null };
const recent = document.getElementById("recent");
const CATCH_UP_AFTER_MS = 1500;
const MAX_SERIES = 8; // the API's limit per request
const latest = new Map(); // metric -> newest reading shown
const metrics = new Set(); // this topic's metrics seen (recent readings, live ones)
const chosen = []; // "TOPIC:METRIC" keys on the chart, in order
const labels = new Map(); // key -> legend name
let thinned = 0;
let parsers = [];
let loading = 0;

function currentRange() {
  if (range.kind === "custom") return { since: range.since, until: range.until };
  return { since: new Date(Date.now() - RANGES[range.kind]), until: null };
}

function query(extra = "") {
  const { since, until } = currentRange();
  let q = `topic=${topic.id}&since=${encodeURIComponent(since.toISOString())}`;
  if (until) q += `&until=${encodeURIComponent(until.toISOString())}`;
  return q + extra;
}

function updateExports() {
  document.getElementById("export-csv").href = `/api/readings?${query(`&format=csv&limit=${page.export_limit}`)}`;
  document.getElementById("export-json").href = `/api/readings?${query("&limit=1000")}`;
}

const ownKey = (metric) => `${topic.id}:${metric}`;

function choose(key, label, on = true) {
  const at = chosen.indexOf(key);
  if (on && at < 0 && chosen.length < MAX_SERIES) { chosen.push(key); labels.set(key, label); }
  if (!on && at >= 0) chosen.splice(at, 1);
}

function swatch(key) {
  const index = chosen.indexOf(key);
  return el("span", { class: "swatch", style: `background:${index < 0 ? "transparent" : PALETTE[index % PALETTE.length]}` });
}

function renderChoices() {
  const box = document.getElementById("metrics");
  const legend = box.querySelector("legend");
  const own = [...metrics].sort().map((metric) => {
    const key = ownKey(metric);
    const input = el("input", { type: "checkbox", checked: chosen.includes(key) || null, value: metric });
    input.addEventListener("change", () => { choose(key, metric, input.checked); loadSeries(); });
    return el("label", { class: "switch" }, input, swatch(key), metric);
  });
  box.replaceChildren(legend, ...own);
  const others = chosen.filter((key) => !key.startsWith(`${topic.id}:`)).map((key) => {
    const remove = el("button", { type: "button", "aria-label": `Remove ${labels.get(key)}` }, "×");
    remove.addEventListener("click", () => { choose(key, "", false); loadSeries(); });
    return el("span", { class: "tag" }, swatch(key), labels.get(key), " ", remove);
  });
  document.getElementById("other-series").replaceChildren(...others);
}

async function loadMetrics() {
  try {
    for (const r of items(await api(`/api/readings?topic=${topic.id}&limit=500`))) if (typeof r.value !== "string") metrics.add(r.metric);
  } catch (error) {
    console.warn("could not read the topic's metrics:", error.message);
  }
  if (!chosen.length) for (const m of [...metrics].sort().slice(0, 3)) choose(ownKey(m), m);
}

function describe(answer) {
  const readings = answer.series.reduce((n, s) => n + s.points.reduce((c, p) => c + p.count, 0), 0);
  const width = answer.width >= 3600 ? `${answer.width / 3600} h` : answer.width >= 60 ? `${answer.width / 60} min` : `${answer.width} s`;
  const source = { raw: "stored readings", minute: "minute rollups", hour: "hour rollups" }[answer.source];
  return `${readings.toLocaleString()} reading${readings === 1 ? "" : "s"} in this range, in buckets of ${width} (from ${source}); line: average, band: min to max.`;
}

async function loadSeries() {
  updateExports();
  renderChoices();
  const note = document.getElementById("chart-note");
  if (!chosen.length) {
    chart.clear();
    setText(note, topic.is_processable ? "No numeric readings yet." : "This topic is not parsed: choose a parser and turn parsing on to get readings.");
    return;
  }
  const ticket = ++loading;
  setText(note, "Loading readings…");
  const { since, until } = currentRange();
  let q = chosen.map((key) => `series=${encodeURIComponent(key)}`).join("&");
  q += `&since=${encodeURIComponent(since.toISOString())}&points=${chart.points()}`;
  if (until) q += `&until=${encodeURIComponent(until.toISOString())}`;
  try {
    const answer = await api(`/api/series?${q}`);
    if (ticket !== loading) return; // a newer range or series choice was asked for meanwhile
    chart.load(answer, labels);
    chart.setWindow(since, until);
    chart.rebuild();
    setText(note, describe(answer));
  } catch (error) {
    if (ticket === loading) setText(note, `Could not load readings: ${error.message}`);
  }
}

async function reload() {
  thinned = 0;
  showThinned();
  if (!metrics.size) await loadMetrics();
  await loadSeries();
}

// Every reading of this topic (the server thins a series only beyond page.points_per_second, and counts what
// it left out), newest last: appended to the chart as points of their own over the buckets.
function onReadings(event) {
  const mine = event.readings;
  thinned += event.thinned || 0;
  if (!mine.length) return;
  let added = false;
  let fresh = false;
  for (const r of mine) {
    if (typeof r.value !== "string" && !metrics.has(r.metric)) { metrics.add(r.metric); fresh = true; }
    if (range.kind !== "custom") added = chart.addLive(ownKey(r.metric), Date.parse(r.timestamp) / 1000, r.value) || added;
    addRecent(r);
  }
  showLatest(mine);
  if (event.thinned) frame.queue("thinned", showThinned);
  if (fresh && chosen.length < 3) { for (const m of [...metrics].sort().slice(0, 3)) choose(ownKey(m), m); loadSeries(); }
  else if (fresh) renderChoices();
  if (added) frame.queue("chart", () => chart.refresh());
}

function addRecent(r) {
  recent.prepend(el("tr", {}, el("td", {}, new Date(r.timestamp).toLocaleTimeString()), el("td", {}, r.device || "–"),
    el("td", { class: "mono" }, r.metric), el("td", { class: "num mono" }, formatValue(r.value, r.unit))));
}

// The live value: the newest reading of each metric (three at most), never an older one over a newer one.
function showLatest(readings) {
  for (const r of readings) {
    const known = latest.get(r.metric);
    if (!known || Date.parse(known.timestamp) <= Date.parse(r.timestamp)) latest.set(r.metric, r);
  }
  const newest = readings.reduce((a, b) => (Date.parse(a.timestamp) >= Date.parse(b.timestamp) ? a : b));
  frame.queue("value", () => {
    const node = document.getElementById("live-value");
    setText(node, [...latest.values()].slice(0, 3).map((r) => `${r.metric} ${formatValue(r.value, r.unit)}`).join(" · "));
    if (!node.dataset.timestamp || Date.parse(node.dataset.timestamp) <= Date.parse(newest.timestamp)) node.dataset.timestamp = newest.timestamp;
    while (recent.rows.length > 20) recent.deleteRow(-1);
  });
}

function showThinned() {
  const note = document.getElementById("live-thinned");
  note.hidden = !thinned;
  setText(note, thinned ? `Live points are thinned: ${thinned} reading${thinned === 1 ? "" : "s"} arrived faster than ${page.points_per_second} a second per metric and ${thinned === 1 ? "is" : "are"} not drawn (all are stored; reload the range to see them).` : "");
}

// The server starts sending this topic's readings within about a second of the subscription (its workers
// re-read who watches every half second): read what was stored meanwhile, so nothing falls in between.
async function catchUp(since) {
  try {
    const rows = await fetchAll(`/api/readings?topic=${topic.id}&since=${encodeURIComponent(since.toISOString())}`, 1000, 1000);
    if (!rows.length) return;
    let added = false;
    for (const r of rows) if (range.kind !== "custom") added = chart.addLive(ownKey(r.metric), Date.parse(r.timestamp) / 1000, r.value) || added;
    showLatest(rows);
    if (added) frame.queue("chart", () => chart.refresh());
  } catch (error) {
    console.warn("could not catch up with the readings:", error.message);
  }
}

function showTopicState() {
  setText(document.getElementById("parser-tag"), topic.parser || "none");
  const tag = document.getElementById("processable-tag");
  tag.className = `tag ${topic.is_processable ? "ok" : "warn"}`;
  setText(tag, topic.is_processable ? "parsed" : "unparsed");
  document.getElementById("processable").checked = topic.is_processable;
  document.getElementById("parser-select").value = topic.parser || "";
  describeParser();
}

function describeParser() {
  const chosen = parsers.find((p) => p.name === document.getElementById("parser-select").value);
  setText(document.getElementById("parser-description"), chosen ? chosen.description || "" : "Chosen automatically from the topic and payload.");
}

async function loadTopic() {
  try {
    const fresh = await api(`/api/topics/${topic.id}`);
    Object.assign(topic, fresh, { parser: fresh.parser ?? fresh.parser_name ?? "" });
  } catch { /* the page's bootstrap data stands */ }
  setText(document.getElementById("last-payload"), topic.last_payload ?? topic.last_payload_sample ?? page.last_payload ?? "(nothing stored yet)");
  showTopicState();
}

async function loadParsers() {
  try {
    parsers = items(await api("/api/parsers"));
    const select = document.getElementById("parser-select");
    select.append(...parsers.map((p) => el("option", { value: p.name }, p.name)));
    showTopicState();
  } catch (error) {
    console.warn("could not load parsers:", error.message);
  }
}

function renderDryRun(result) {
  const box = document.getElementById("dry-run-result");
  const readings = result.readings || [];
  if (!result.ok) {
    const failure = result.error || {};
    const errors = failure.errors || [];
    box.replaceChildren(el("div", { class: "notice bad" }, `${failure.kind || "error"}: ${failure.message || "the payload does not parse"}`),
      el("ul", {}, errors.map((e) => el("li", {}, el("code", {}, Array.isArray(e.loc) ? e.loc.join(".") : e.loc ?? ""), " ", e.msg ?? ""))));
    return;
  }
  box.replaceChildren(el("div", { class: "notice ok" }, `${readings.length} reading(s) would be stored:`),
    el("table", {}, el("tbody", {}, readings.map((r) => el("tr", {}, el("td", {}, r.device || "–"), el("td", { class: "mono" }, r.metric),
      el("td", { class: "num mono" }, formatValue(r.value, r.unit)))))));
}

async function dryRun() {
  const name = document.getElementById("parser-select").value || topic.parser;
  const box = document.getElementById("dry-run-result");
  if (!name) { box.replaceChildren(el("div", { class: "notice bad" }, "Choose a parser to try.")); return; }
  try {
    renderDryRun(await api(`/api/parsers/${encodeURIComponent(name)}/test`, { method: "POST", body: { topic_id: topic.id } }));
  } catch (error) {
    box.replaceChildren(el("div", { class: "notice bad" }, error.message));
  }
}

async function saveParser() {
  const body = { parser_name: document.getElementById("parser-select").value, is_processable: document.getElementById("processable").checked };
  try {
    const saved = await api(`/api/topics/${topic.id}`, { method: "PATCH", body });
    Object.assign(topic, saved || body, { parser: (saved || body).parser_name });
    showTopicState();
    toast("Parser settings saved.");
  } catch (error) {
    toast(`Not saved: ${error.message}`, "bad");
  }
}

function setRange(kind) {
  range.kind = kind;
  for (const b of document.querySelectorAll("[data-range]")) b.setAttribute("aria-pressed", String(b.dataset.range === kind));
  document.getElementById("custom-range").hidden = kind !== "custom";
  if (kind !== "custom") loadSeries();
  else document.getElementById("since").focus();
}

for (const button of document.querySelectorAll("[data-range]")) button.addEventListener("click", () => setRange(button.dataset.range));
document.getElementById("custom-range").addEventListener("submit", (e) => {
  e.preventDefault();
  const since = new Date(document.getElementById("since").value);
  const until = new Date(document.getElementById("until").value);
  const error = document.getElementById("range-error");
  if (Number.isNaN(since.getTime()) || Number.isNaN(until.getTime()) || since >= until) {
    setText(error, "Choose a start before the end.");
    return;
  }
  setText(error, "");
  Object.assign(range, { since, until });
  loadSeries();
});
// A series of another topic of this connection: pick the topic, then one of its metrics (or type one).
async function loadOtherTopics() {
  try {
    const rows = await fetchAll(`/api/topics?connection=${page.connection}`, 500, 2000);
    const select = document.getElementById("other-topic");
    select.append(...rows.filter((t) => t.id !== topic.id).map((t) => el("option", { value: t.id }, t.topic)));
  } catch (error) {
    console.warn("could not list the connection's topics:", error.message);
  }
}

document.getElementById("other-topic").addEventListener("change", async (e) => {
  const list = document.getElementById("other-metrics");
  list.replaceChildren();
  if (!e.target.value) return;
  try {
    const rows = items(await api(`/api/readings?topic=${e.target.value}&limit=500`));
    const names = [...new Set(rows.filter((r) => typeof r.value !== "string").map((r) => r.metric))].sort();
    list.replaceChildren(...names.map((m) => el("option", { value: m })));
    if (names.length && !document.getElementById("other-metric").value) document.getElementById("other-metric").value = names[0];
  } catch (error) {
    console.warn("could not read that topic's metrics:", error.message);
  }
});
document.getElementById("add-series").addEventListener("submit", (e) => {
  e.preventDefault();
  const select = document.getElementById("other-topic");
  const metric = document.getElementById("other-metric").value.trim();
  const error = document.getElementById("add-series-error");
  if (!select.value || !metric) { setText(error, "Choose a topic and a metric."); return; }
  if (chosen.length >= MAX_SERIES) { setText(error, `At most ${MAX_SERIES} series on one chart.`); return; }
  setText(error, "");
  choose(`${select.value}:${metric}`, `${select.selectedOptions[0].textContent} · ${metric}`);
  loadSeries();
});
// A re-parse (reparse.js) replaced readings of this topic: its metrics and the chart are read again.
document.addEventListener("readings-replaced", async () => { await loadMetrics(); renderChoices(); await loadSeries(); });
document.getElementById("parser-select").addEventListener("change", describeParser);
document.getElementById("dry-run").addEventListener("click", dryRun);
document.getElementById("save-parser")?.addEventListener("click", saveParser);
setText(document.getElementById("last-payload"), page.last_payload || "(nothing stored yet)");
updateExports();

const live = new LiveEvents({
  onEvent: (event) => {
    if (event.type === "topic.readings" && event.topic_id === topic.id) onReadings(event);
    else if (event.type === "subscribed" && event.connection === page.connection) {
      const since = new Date(Date.now() - 2000);
      setTimeout(() => catchUp(since), CATCH_UP_AFTER_MS);
    } else if (event.type === "readings.replaced" && event.topic_id === topic.id) {
      document.dispatchEvent(new CustomEvent("readings-replaced"));
    } else if (event.type === "connection.deleted" && event.connection === page.connection) {
      setText(document.getElementById("chart-note"), "This topic's connection was deleted.");
    }
  },
  onResync: () => { loadTopic(); reload(); },
});
live.subscribe(page.connection, ["topic.readings"], [topic.id]);
loadParsers();
loadOtherTopics();
