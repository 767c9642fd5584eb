// Errors inbox: grouped parse errors (with counts and a sample payload) and connections in error, live;
// dead letters (messages that could not be stored), with a Replay button for staff.
import { api, fetchAll } from "./api.js";
import { LiveEvents } from "./live.js";
import { ago, el, frame, pageData, setText, toast, when } from "./ui.js";

const page = pageData();
const names = new Map(page.connections.map((c) => [c.id, `${c.site__name} / ${c.name}`]));
const statuses = new Map(); // connection id -> status event
const groups = new Map(); // group key -> aggregated parse errors
const parseBody = document.getElementById("parse-errors");
const connBody = document.getElementById("connection-errors");
const filterConnection = document.getElementById("error-connection");
const search = document.getElementById("error-search");

// The topic page's re-parse form, set to the group's span (the archived payloads of that time, if kept).
function reparseLink(g) {
  const until = new Date(Date.parse(g.last_seen_at) + 2000).toISOString(); // the form keeps whole seconds
  return `/topics/${g.topic_id}/?reparse_since=${encodeURIComponent(g.first_seen_at)}&reparse_until=${encodeURIComponent(until)}#reparse`;
}

function key(e) {
  return [e.connection, e.topic, e.parser, e.location, e.error_kind].join("\u0000");
}

function addError(e) {
  const k = key(e);
  const group = groups.get(k) || { ...e, count: 0, first_seen_at: e.first_seen_at, last_seen_at: e.last_seen_at };
  group.count += e.count || 1;
  if (!group.first_seen_at || (e.first_seen_at && e.first_seen_at < group.first_seen_at)) group.first_seen_at = e.first_seen_at;
  if (!group.last_seen_at || (e.last_seen_at && e.last_seen_at > group.last_seen_at)) {
    Object.assign(group, { last_seen_at: e.last_seen_at, message: e.message, payload_excerpt: e.payload_excerpt ?? group.payload_excerpt });
  }
  groups.set(k, group);
}

function normalise(row) {
  const connection = typeof row.connection === "object" && row.connection ? row.connection.id : row.connection;
  return {
    connection, topic: row.topic_name ?? row.topic, topic_id: row.topic_id ?? (typeof row.topic === "number" ? row.topic : null),
    parser: row.parser_name ?? row.parser ?? "", location: row.location ?? "", error_kind: row.error_kind, message: row.message,
    count: row.count ?? 1, first_seen_at: row.first_seen_at, last_seen_at: row.last_seen_at, payload_excerpt: row.payload_excerpt ?? "",
  };
}

function renderParseErrors() {
  const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
  const only = Number(filterConnection.value) || null;
  const rows = [...groups.values()]
    .filter((g) => (!only || g.connection === only) && words.every((w) => `${g.topic} ${g.parser} ${g.message} ${g.location}`.toLowerCase().includes(w)))
    .sort((a, b) => (b.last_seen_at || "").localeCompare(a.last_seen_at || ""));
  parseBody.replaceChildren(...rows.slice(0, 500).map((g) => {
    const sample = el("details", {}, el("summary", {}, "sample"), el("pre", { class: "payload" }, g.payload_excerpt || "(no payload stored)"));
    return el("tr", {},
      el("td", {}, el("div", { class: "mono" }, g.topic_id ? el("a", { href: `/topics/${g.topic_id}/` }, g.topic) : g.topic),
        el("div", { class: "reason" }, g.message)),
      el("td", { class: "hide-sm" }, el("a", { href: `/connections/${g.connection}/` }, names.get(g.connection) || `#${g.connection}`)),
      el("td", {}, el("span", { class: "tag" }, g.parser || "–"), " ", el("code", {}, g.location || g.error_kind)),
      el("td", { class: "num" }, g.count.toLocaleString()),
      el("td", { class: "hide-sm", title: when(g.first_seen_at) }, ago(g.first_seen_at)),
      el("td", { title: when(g.last_seen_at) }, ago(g.last_seen_at)),
      el("td", {}, sample, g.topic_id ? el("a", { href: reparseLink(g), class: "reparse-link" }, "fix and re-parse") : null));
  }));
  if (!rows.length) parseBody.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "empty" }, "No parse errors. Every claimed payload validated.")));
}

function renderConnectionErrors() {
  const failing = [...statuses.values()].filter((s) => s.status === "error" || (s.is_active && s.status === "reconnecting"));
  connBody.replaceChildren(...failing.map((s) => el("tr", {},
    el("td", {}, el("a", { href: `/connections/${s.connection}/` }, names.get(s.connection) || s.name)),
    el("td", {}, el("span", { class: `badge ${s.status}` }, s.status)),
    el("td", { class: "reason" }, s.detail || "–"),
    el("td", { class: "hide-sm", title: when(s.status_changed_at) }, s.status_changed_at ? ago(s.status_changed_at) : "–"))));
  if (!failing.length) connBody.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "empty" }, "Every connection is healthy or stopped on purpose.")));
}

async function resync({ reconnected } = {}) {
  if (reconnected) loadDeadLetters(); // the first load does not wait for the socket
  try {
    const rows = await fetchAll("/api/parsing-errors", 500, 5000);
    groups.clear();
    for (const row of rows) addError(normalise(row));
    frame.queue("parse", renderParseErrors);
  } catch (error) {
    parseBody.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "empty" }, `Could not load parse errors: ${error.message}`)));
  }
}

function onEvent(event) {
  if (event.type === "connection.status") {
    statuses.set(event.connection, event);
    if (!names.has(event.connection)) names.set(event.connection, event.name);
    frame.queue("connections", renderConnectionErrors);
  } else if (event.type === "parsing.error") {
    const now = new Date().toISOString();
    addError({ ...normalise(event), first_seen_at: now, last_seen_at: now, topic_id: null });
    frame.queue("parse", renderParseErrors);
  } else if (event.type === "ready") {
    frame.queue("connections", renderConnectionErrors);
    for (const id of [...statuses.keys()].slice(0, page.max_subscriptions)) live.subscribe(id, ["parsing.error"]);
  }
}

const live = new LiveEvents({ onEvent, onResync: resync });
search.addEventListener("input", () => frame.queue("parse", renderParseErrors));
filterConnection.addEventListener("change", () => frame.queue("parse", renderParseErrors));
setInterval(() => setText(document.getElementById("parse-errors-title"), `Parse errors (${groups.size} groups)`), 5000);

// --- dead letters: no live event; loaded with the page, on every resync, after a replay, and every 30 s ---
const DEAD_LETTER_ROWS = 200;
const deadBody = document.getElementById("dead-letters");
const deadCount = document.getElementById("dead-letter-count");
const replaying = new Set(); // ids with a replay request in flight: one request per click, never two

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  return bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} kB` : `${(bytes / 1048576).toFixed(1)} MB`;
}

function replayCell(d) {
  const state = d.state === "stored" ? el("span", { class: "tag ok" }, "stored by a replay")
    : d.state === "failed_again" ? el("span", { class: "tag bad", title: d.replay_result }, `failed again (${d.replay_count}×)`)
      : el("span", { class: "tag warn" }, "not replayed");
  if (!page.operable_sites.includes(d.site) || d.state === "stored") return el("td", {}, state);
  const button = el("button", { type: "button", class: "small", disabled: replaying.has(d.id) }, "Replay");
  button.addEventListener("click", () => replay(d, button));
  return el("td", {}, state, " ", button);
}

function renderDeadLetters(rows) {
  deadBody.replaceChildren(...rows.map((d) => el("tr", { dataset: { id: d.id } },
    el("td", {}, el("div", { class: "mono" }, d.topic),
      el("div", { class: "reason", title: d.error }, `${d.error_kind}: ${d.error.slice(0, 200)}`)),
    el("td", { class: "hide-sm" }, d.connection_name ? el("a", { href: `/connections/${d.connection}/` }, `${d.site_name} / ${d.connection_name}`)
      : `#${d.connection} (deleted)`),
    el("td", { class: "hide-sm", title: when(d.created_at) }, ago(d.created_at)),
    el("td", { class: "num" }, size(d.payload_size)),
    replayCell(d),
    el("td", {}, el("details", {}, el("summary", {}, "payload"),
      el("pre", { class: "payload" }, d.payload_excerpt || "(empty payload)"),
      el("a", { href: `/api/dead-letters/${d.id}/payload`, download: `dead-letter-${d.id}.bin` }, "download whole payload"))))));
  if (!rows.length) deadBody.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "empty" }, "No dead letters. Every message was stored.")));
}

async function loadDeadLetters() {
  try {
    const [list, waiting] = await Promise.all([
      api(`/api/dead-letters?limit=${DEAD_LETTER_ROWS}`), api("/api/dead-letters?replayed=false&limit=1"),
    ]);
    setText(deadCount, waiting.count ?? "?");
    deadCount.className = waiting.count ? "tag bad" : "tag ok";
    frame.queue("dead-letters", () => renderDeadLetters(list.items));
  } catch (error) {
    deadBody.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "empty" }, `Could not load dead letters: ${error.message}`)));
  }
}

async function replay(d, button) {
  if (replaying.has(d.id)) return;
  replaying.add(d.id);
  button.disabled = true;
  try {
    const result = await api(`/api/dead-letters/${d.id}/replay`, { method: "POST" });
    if (result.status === "failed") toast(`${d.topic}: failed again. ${result.detail}`, "bad");
    else if (result.status === "error") toast(`${d.topic}: not replayed, try again. ${result.detail}`, "bad");
    else toast(`${d.topic}: ${result.status === "stored" ? "stored" : "already stored by an earlier replay"}.`);
  } catch (error) {
    toast(`Could not replay ${d.topic}: ${error.message}`, "bad");
  } finally {
    replaying.delete(d.id);
    await loadDeadLetters();
  }
}

loadDeadLetters();
setInterval(loadDeadLetters, 30000);
