// Connection page: header state with Start/Stop, live topic tree, facts, event history, settings (staff).
import { api, fetchAll, items } from "./api.js";
import { LiveEvents } from "./live.js";
import { StartStop } from "./control.js";
import { SettingsForm } from "./settings_form.js";
import { TopicTree } from "./topic_tree.js";
import { RateMeter, ago, el, formatRate, frame, pageData, setText, statusBadge, when } from "./ui.js";

const page = pageData();
const id = page.connection;
const state = { connection: id, name: "", is_active: false, status: "stopped" };
const tree = new TopicTree(document.getElementById("topic-tree"), { isStaff: page.can_operate });
const rates = new RateMeter();
const historyBody = document.getElementById("history");
const moreButton = document.getElementById("history-more");
const toggle = document.getElementById("conn-toggle");
const control = new StartStop(() => frame.queue("header", renderHeader));
const settings = page.can_manage ? new SettingsForm(document.getElementById("settings"), id, (saved) => merge(saved)) : null;
let historyOffset = 0;
let connectionRate = null;

function merge(fields) {
  Object.assign(state, fields);
  if ("status_detail" in fields) state.detail = fields.status_detail;
  frame.queue("header", renderHeader);
}

function renderHeader() {
  statusBadge(document.getElementById("conn-badge"), state.status, control.label(id));
  if (state.host) setText(document.getElementById("conn-host"), `${state.host}:${state.port}`);
  const reason = control.errors.get(id) || (state.status === "error" ? state.detail : "");
  setText(document.getElementById("conn-reason"), reason);
  setText(document.getElementById("f-desired"), state.is_active ? "running" : "stopped");
  setText(document.getElementById("f-listener"), state.listener || "–");
  setText(document.getElementById("f-connected"), when(state.last_connected_at));
  setText(document.getElementById("f-message"), ago(state.last_message_at));
  setText(document.getElementById("f-rate"), formatRate(connectionRate));
  if (state.restart_count != null) setText(document.getElementById("f-restarts"), state.restart_count);
  setText(document.getElementById("f-detail"), state.detail || "–");
  if (toggle) {
    setText(toggle, state.is_active ? "Stop" : "Start");
    toggle.classList.toggle("danger", state.is_active);
    toggle.classList.toggle("primary", !state.is_active);
    toggle.disabled = Boolean(control.label(id));
  }
}

function renderTree() {
  const shown = tree.render();
  setText(document.getElementById("topic-count"), `${shown} of ${tree.topics.size}`);
}

function historyRow(entry) {
  return el("tr", {}, el("td", { title: when(entry.created_at) }, ago(entry.created_at)),
    el("td", {}, el("span", { class: `tag ${entry.event === "error" ? "bad" : entry.event === "connected" ? "ok" : ""}` }, entry.event)),
    el("td", { class: "reason", style: entry.event === "error" ? null : "color:inherit" }, entry.detail || entry.status || ""));
}

async function loadHistory(reset = true) {
  if (reset) historyOffset = 0;
  try {
    const data = await api(`/api/connections/${id}/events?limit=20&offset=${historyOffset}`);
    const rows = items(data).map(historyRow);
    if (reset) historyBody.replaceChildren(...rows);
    else historyBody.append(...rows);
    if (reset && !rows.length) historyBody.replaceChildren(el("tr", {}, el("td", { colspan: 3, class: "empty" }, "No events yet.")));
    historyOffset += rows.length;
    moreButton.hidden = rows.length < 20 || (data && data.count != null && historyOffset >= data.count);
  } catch (error) {
    historyBody.replaceChildren(el("tr", {}, el("td", { colspan: 3, class: "empty" }, `Could not load events: ${error.message}`)));
  }
}

let historyTimer = null;
function historySoon() {
  clearTimeout(historyTimer);
  historyTimer = setTimeout(() => loadHistory(true), 400);
}

async function resync() {
  try {
    const connection = await api(`/api/connections/${id}`);
    merge(connection);
    if (settings && !settings.original) settings.fill(connection);
  } catch (error) {
    console.warn("could not load the connection:", error.message);
  }
  try {
    for (const topic of await fetchAll(`/api/topics?connection=${id}`)) tree.add(topic);
    frame.queue("tree", renderTree);
  } catch (error) {
    console.warn("could not load topics:", error.message);
  }
  loadHistory(true);
}

function onEvent(event) {
  if (event.connection !== id) return;
  switch (event.type) {
    case "connection.status":
      merge(event);
      control.confirm(event);
      historySoon();
      break;
    case "topic.discovered":
      for (const topic of event.topics) tree.add(topic);
      frame.queue("tree", renderTree);
      break;
    case "readings":
      for (const reading of event.readings) tree.reading(reading);
      for (const [topicId, count] of Object.entries(event.counts || {})) rates.add(Number(topicId), count);
      state.last_message_at = new Date().toISOString();
      for (const topicId of new Set([...event.readings.map((r) => r.topic_id), ...Object.keys(event.counts || {}).map(Number)])) {
        frame.queue(`topic:${topicId}`, () => tree.update(topicId, rates.rate(topicId)));
      }
      break;
    case "readings.replaced": // a re-parse: the values shown for that topic may no longer exist
      tree.latest.delete(event.topic_id);
      frame.queue(`topic:${event.topic_id}`, () => tree.update(event.topic_id, rates.rate(event.topic_id)));
      break;
    case "parsing.error":
      tree.failing.add(event.topic);
      for (const [topicId, topic] of tree.topics) if (topic.topic === event.topic) frame.queue(`topic:${topicId}`, () => tree.update(topicId));
      break;
    case "connection.deleted":
      control.errors.set(id, "This connection was deleted.");
      if (toggle) toggle.disabled = true;
      frame.queue("header", renderHeader);
      break;
    case "stats":
      connectionRate = event.messages_per_second;
      frame.queue("header", renderHeader);
      break;
    default:
  }
}

const live = new LiveEvents({ onEvent, onResync: resync });
live.subscribe(id);
if (toggle) toggle.addEventListener("click", () => control.toggle(state));
moreButton.addEventListener("click", () => loadHistory(false));
document.getElementById("topic-search").addEventListener("input", (e) => { tree.filter = e.target.value; frame.queue("tree", renderTree); });
document.getElementById("only-unparsed").addEventListener("change", (e) => { tree.onlyUnparsed = e.target.checked; frame.queue("tree", renderTree); });
setInterval(() => {
  frame.queue("header", renderHeader);
  for (const topicId of tree.leaves.keys()) frame.queue(`topic:${topicId}`, () => tree.update(topicId, rates.rate(topicId)));
}, 2000);
