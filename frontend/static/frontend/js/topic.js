// Topic page: chart of readings over a range, live values, last payload, parser choice with dry run, export.
import { api, fetchAll, items } from "./api.js";
import { LiveEvents } from "./live.js";
import { MetricChart } from "./chart.js";
import { el, formatValue, frame, pageData, setText, toast } from "./ui.js";

const page = pageData();
const topic = page.topic;
const chart = new MetricChart(document.getElementById("chart"));
const range = { kind: "hour", since: null, until: null };
const recent = document.getElementById("recent");
const POINT_LIMIT = 10000;
const CATCH_UP_AFTER_MS = 1500;
const latest = new Map(); // metric -> newest reading shown
let thinned = 0;
let parsers = [];

function currentRange() {
  const now = Date.now();
  if (range.kind === "hour") return { since: new Date(now - 3600e3), until: null };
  if (range.kind === "day") return { since: new Date(now - 86400e3), until: null };
  return { since: range.since, until: range.until };
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

function renderMetricChoices() {
  const box = document.getElementById("metrics");
  const legend = box.querySelector("legend");
  const choices = chart.metrics().map((metric) => {
    const input = el("input", { type: "checkbox", checked: chart.chosen.has(metric) || null, value: metric });
    input.addEventListener("change", () => {
      if (input.checked) chart.chosen.add(metric); else chart.chosen.delete(metric);
      chart.rebuild();
    });
    return el("label", { class: "switch" }, input, metric);
  });
  box.replaceChildren(legend, ...choices);
}

async function loadReadings() {
  updateExports();
  const note = document.getElementById("chart-note");
  setText(note, "Loading readings…");
  chart.clear();
  thinned = 0;
  showThinned();
  try {
    const rows = await fetchAll(`/api/readings?${query()}`, 1000, POINT_LIMIT);
    for (const r of rows) chart.add(r.metric, Date.parse(r.timestamp) / 1000, r.value, r.unit);
    if (!chart.chosen.size) for (const m of chart.metrics().slice(0, 3)) chart.chosen.add(m);
    renderMetricChoices();
    chart.rebuild();
    setText(note, rows.length ? (rows.length >= POINT_LIMIT ? `Showing the latest ${POINT_LIMIT} readings of the range.` : `${rows.length} reading${rows.length === 1 ? "" : "s"} stored in this range.`)
      : (topic.is_processable ? "No readings in this range yet." : "This topic is not parsed: choose a parser and turn parsing on to get readings."));
  } catch (error) {
    setText(note, `Could not load readings: ${error.message}`);
  }
}

// Every reading of this topic (the server thins a series only beyond page.points_per_second, and counts what
// it left out), newest last.
function onReadings(event) {
  const mine = event.readings;
  thinned += event.thinned || 0;
  if (!mine.length) return;
  let added = false;
  for (const r of mine) {
    if (range.kind !== "custom") added = chart.add(r.metric, Date.parse(r.timestamp) / 1000, r.value, r.unit) || added;
    addRecent(r);
  }
  showLatest(mine);
  if (event.thinned) frame.queue("thinned", showThinned);
  if (added) chartSoon();
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

function chartSoon() {
  if (!chart.chosen.size) for (const m of chart.metrics().slice(0, 3)) chart.chosen.add(m);
  frame.queue("chart", () => { if (chart.metrics().length !== document.querySelectorAll("#metrics input").length) renderMetricChoices(); chart.refresh(); });
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
    for (const r of rows) if (range.kind !== "custom") added = chart.add(r.metric, Date.parse(r.timestamp) / 1000, r.value, r.unit) || added;
    showLatest(rows);
    if (added) chartSoon();
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
  if (kind !== "custom") loadReadings();
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
  loadReadings();
});
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
    } else if (event.type === "connection.deleted" && event.connection === page.connection) {
      setText(document.getElementById("chart-note"), "This topic's connection was deleted.");
    }
  },
  onResync: () => { loadTopic(); loadReadings(); },
});
live.subscribe(page.connection, ["topic.readings"], [topic.id]);
loadParsers();
