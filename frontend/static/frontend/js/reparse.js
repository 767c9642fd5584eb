// Topic page, "Raw archive and re-parse": the archive setting, a dry run and a re-parse of a range, the jobs.
import { api, items } from "./api.js";
import { el, pageData, toast, when } from "./ui.js";

const page = pageData();
const topic = page.topic;
const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
let polling = null;
const states = new Map(); // job id -> state last shown

// A datetime-local input's value for a Date, in the browser's time zone.
function localValue(date) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60e3);
  return shifted.toISOString().slice(0, 19); // to the second (the inputs have step="1")
}

function range() {
  const since = new Date($("reparse-since").value);
  const until = new Date($("reparse-until").value);
  return { since: since.toISOString(), until: until.toISOString() };
}

function body() {
  const parser = $("reparse-parser").value;
  return parser ? { ...range(), parser_name: parser } : range();
}

function updateDownload() {
  try {
    const { since, until } = range();
    $("raw-download").href = `/api/topics/${topic.id}/raw?since=${encodeURIComponent(since)}&until=${encodeURIComponent(until)}`;
  } catch { $("raw-download").href = `/api/topics/${topic.id}/raw`; }
}

function progress(job) {
  return job.total ? `${job.done} / ${job.total} (${Math.floor((100 * job.done) / job.total)} %)` : `${job.done}`;
}

function jobRow(job) {
  const running = job.state === "queued" || job.state === "running";
  const cancel = running && page.can_operate
    ? el("button", { type: "button", onclick: () => cancelJob(job.id) }, "Cancel") : null;
  const state = el("span", { class: `tag ${job.state === "done" ? "ok" : job.state === "failed" ? "bad" : "warn"}` }, job.state);
  return el("tr", { dataset: { job: job.id } },
    el("td", {}, when(job.created_at)), el("td", {}, `${when(job.since)} – ${when(job.until)}`),
    el("td", { class: "mono" }, job.parser_name), el("td", {}, state, job.error ? ` ${job.error}` : ""),
    el("td", { class: "num" }, progress(job)), el("td", { class: "num" }, job.readings),
    el("td", { class: "num" }, job.failures), el("td", {}, cancel));
}

async function loadJobs() {
  const jobs = await api(`/api/topics/${topic.id}/reparse-jobs`);
  $("reparse-jobs").replaceChildren(...jobs.map(jobRow));
  const finished = jobs.some((job) => job.state !== states.get(job.id) && states.has(job.id) && !["queued", "running"].includes(job.state));
  for (const job of jobs) states.set(job.id, job.state);
  if (finished) document.dispatchEvent(new CustomEvent("readings-replaced")); // the chart shows the new readings
  const busy = jobs.some((job) => job.state === "queued" || job.state === "running");
  if (busy && !polling) polling = setInterval(() => loadJobs().catch(() => {}), POLL_MS);
  if (!busy && polling) { clearInterval(polling); polling = null; }
}

async function cancelJob(id) {
  try { await api(`/api/reparse-jobs/${id}/cancel`, { method: "POST" }); await loadJobs(); }
  catch (error) { toast(`Not cancelled: ${error.message}`, "bad"); }
}

function showError(error) {
  $("reparse-error").textContent = error ? error.message : "";
}

async function dryRun() {
  showError(null);
  try {
    const result = await api(`/api/topics/${topic.id}/reparse/dry-run`, { method: "POST", body: body() });
    const kind = result.failures ? "warn" : "ok";
    $("reparse-dry-result").replaceChildren(
      el("div", { class: `notice ${kind}` }, `Of the range's first ${result.messages} archived payloads: ${result.readings} readings, ${result.failures} still failing.`),
      el("ul", {}, result.errors.map((e) => el("li", {}, el("code", {}, e.location || e.kind), " ", e.message))));
  } catch (error) { showError(error); }
}

async function start(event) {
  event.preventDefault();
  showError(null);
  try {
    const job = await api(`/api/topics/${topic.id}/reparse`, { method: "POST", body: body() });
    states.set(job.id, job.state);
    toast("Re-parse started.");
    await loadJobs();
  } catch (error) { showError(error); }
}

async function saveKeep(event) {
  event.preventDefault();
  const raw = $("keep-raw-days").value.trim();
  try {
    await api(`/api/topics/${topic.id}`, { method: "PATCH", body: { keep_raw_days: raw === "" ? null : Number(raw) } });
    toast(raw === "" ? "The connection's archive setting applies." : `Raw payloads kept ${raw} days.`);
  } catch (error) { toast(`Not saved: ${error.message}`, "bad"); }
}

async function init() {
  const asked = new URLSearchParams(location.search); // from the errors inbox: a failing group's span
  const since = asked.get("reparse_since"), until = asked.get("reparse_until");
  $("reparse-until").value = localValue(until ? new Date(until) : new Date(Date.now() + 60e3));
  $("reparse-since").value = localValue(since ? new Date(since) : new Date(Date.now() - 86400e3));
  for (const id of ["reparse-since", "reparse-until"]) $(id).addEventListener("change", updateDownload);
  updateDownload();
  $("reparse-form").addEventListener("submit", start);
  $("reparse-dry-run")?.addEventListener("click", dryRun);
  $("keep-raw-form").addEventListener("submit", saveKeep);
  const [saved, parsers] = await Promise.all([api(`/api/topics/${topic.id}`), api("/api/parsers")]);
  if (saved.keep_raw_days != null) $("keep-raw-days").value = saved.keep_raw_days;
  $("reparse-parser").append(...items(parsers).map((p) => el("option", { value: p.name }, p.name)));
  await loadJobs();
}

init().catch((error) => console.warn("re-parse panel:", error.message));
