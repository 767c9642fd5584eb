// Alerts page: alerts firing first (age, subject, acknowledge for operators), live through the `alert` event;
// the rules, with an editor, a "send test" and delete for the managers of their site.
import { api, fetchAll } from "./api.js";
import { LiveEvents } from "./live.js";
import { ago, el, frame, pageData, toast, when } from "./ui.js";

const page = pageData();
const params = new URLSearchParams(location.search);
const alertsBody = document.getElementById("alerts");
const rulesBody = document.getElementById("rules");
const stateFilter = document.getElementById("alert-state");
const siteFilter = document.getElementById("alert-site");
const form = document.getElementById("rule-form");
const connections = new Map(page.connections.map((c) => [c.id, c.name]));
const sites = new Map(page.sites.map((s) => [s.id, s.name]));
let rules = [];

function scopeText(r) {
  if (r.topic) return `topic #${r.topic}`;
  if (r.connection) return `connection ${connections.get(r.connection) || `#${r.connection}`}`;
  return `site ${sites.get(r.site) || `#${r.site}`}`;
}

function ackCell(a) {
  if (a.state !== "firing" || !page.operable_sites.includes(a.site)) {
    return el("td", {}, a.acknowledged_by ? el("span", { class: "muted" }, `by ${a.acknowledged_by}`) : "");
  }
  const button = el("button", { type: "button", class: "small" }, "Acknowledge");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api(`/api/alerts/${a.id}/acknowledge`, { method: "POST" });
      loadAlerts();
    } catch (error) {
      toast(error.message, "bad");
      button.disabled = false;
    }
  });
  return el("td", {}, button);
}

function renderAlerts(rows) {
  const tag = { firing: "bad", acknowledged: "warn", resolved: "ok" };
  alertsBody.replaceChildren(...rows.map((a) => el("tr", { dataset: { id: a.id, state: a.state } },
    el("td", {}, el("span", { class: `tag ${tag[a.state] || ""}` }, a.state)),
    el("td", {}, el("a", { href: a.url }, a.subject), a.value != null ? el("span", { class: "muted" }, ` (${a.value})`) : ""),
    el("td", { class: "hide-sm" }, `${a.rule_name} · ${a.kind}`),
    el("td", { title: when(a.since) }, a.resolved_at ? `resolved ${ago(a.resolved_at)}` : ago(a.since)),
    ackCell(a))));
  if (!rows.length) alertsBody.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "empty" }, "No alerts.")));
}

async function loadAlerts() {
  const query = new URLSearchParams();
  for (const [name, node] of [["state", stateFilter], ["site", siteFilter]]) if (node.value) query.set(name, node.value);
  for (const name of ["connection", "topic"]) if (params.get(name)) query.set(name, params.get(name));
  try {
    renderAlerts((await api(`/api/alerts?limit=500&${query}`)).items);
  } catch (error) {
    alertsBody.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "empty" }, `Could not load alerts: ${error.message}`)));
  }
  document.dispatchEvent(new Event("alerts-changed"));
}

function ruleActions(r) {
  if (!page.managed_sites.includes(r.site)) return el("td", {});
  const edit = el("button", { type: "button", class: "small" }, "Edit");
  edit.addEventListener("click", () => fillForm(r));
  const test = el("button", { type: "button", class: "small" }, "Send test");
  test.addEventListener("click", async () => {
    try {
      const result = await api(`/api/alert-rules/${r.id}/test`, { method: "POST" });
      const failed = result.channels.filter((c) => !c.ok);
      if (!result.channels.length) toast("This rule has no channels.", "warn");
      else toast(failed.length ? `Failed: ${failed.map((c) => `${c.type}: ${c.error}`).join("; ")}` : "Test sent to every channel.", failed.length ? "bad" : "ok");
    } catch (error) { toast(error.message, "bad"); }
  });
  const remove = el("button", { type: "button", class: "small" }, "Delete");
  remove.addEventListener("click", async () => {
    if (!confirm(`Delete the rule ${r.name} and its alerts?`)) return;
    try { await api(`/api/alert-rules/${r.id}`, { method: "DELETE" }); loadRules(); loadAlerts(); } catch (error) { toast(error.message, "bad"); }
  });
  return el("td", {}, edit, " ", test, " ", remove);
}

async function loadRules() {
  try {
    rules = await fetchAll("/api/alert-rules", 500, 5000);
  } catch (error) {
    rulesBody.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "empty" }, `Could not load rules: ${error.message}`)));
    return;
  }
  rulesBody.replaceChildren(...rules.map((r) => el("tr", { dataset: { id: r.id } },
    el("td", {}, r.name, r.is_enabled ? "" : el("span", { class: "tag" }, " disabled")),
    el("td", {}, r.kind), el("td", { class: "hide-sm" }, scopeText(r), r.filter ? ` · ${r.filter}` : ""),
    el("td", { class: "num" }, String(r.firing)), ruleActions(r))));
  if (!rules.length) rulesBody.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "empty" }, "No rules yet.")));
}

// --- the editor (managers) ---
function channelLines(r) {
  return r.channels.map((c) => `${c.type} ${c.type === "email" ? c.to : c.url}`).join("\n");
}

function fillForm(r) {
  form.elements.id.value = r.id;
  for (const name of ["name", "kind", "filter", "metric", "op", "value", "clear_value", "for_seconds"]) form.elements[name].value = r[name] ?? "";
  form.elements.scope.value = r.connection ? `connection:${r.connection}` : `site:${r.site}`;
  form.elements.channels.value = channelLines(r);
  document.getElementById("editor-title").textContent = `Edit rule ${r.name}`;
  form.scrollIntoView({ behavior: "smooth" });
}

function parseChannels(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const [type, ...rest] = line.split(/\s+/);
    const target = rest.join(" ");
    return type === "email" ? { type, to: target } : { type, url: target };
  });
}

function ruleBody() {
  const f = form.elements;
  const number = (value) => (value.trim() === "" ? null : Number(value));
  const [scope, id] = f.scope.value.split(":");
  return { name: f.name.value.trim(), kind: f.kind.value, [scope]: Number(id), filter: f.filter.value.trim(),
    metric: f.metric.value.trim(), op: f.op.value || null, value: number(f.value.value), clear_value: number(f.clear_value.value),
    for_seconds: number(f.for_seconds.value) ?? 60, channels: parseChannels(f.channels.value) };
}

if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const errors = document.getElementById("rule-errors");
    errors.textContent = "";
    const id = form.elements.id.value;
    try {
      await api(id ? `/api/alert-rules/${id}` : "/api/alert-rules", { method: id ? "PATCH" : "POST", body: ruleBody() });
      toast("Rule saved.", "ok");
      form.reset();
      form.elements.id.value = "";
      loadRules();
    } catch (error) {
      errors.textContent = error.message;
    }
  });
  document.getElementById("rule-reset").addEventListener("click", () => {
    form.reset();
    form.elements.id.value = "";
    document.getElementById("editor-title").textContent = "New rule";
  });
}

stateFilter.addEventListener("change", loadAlerts);
siteFilter.addEventListener("change", loadAlerts);
new LiveEvents({
  onEvent: (event) => { if (event.type === "alert") frame.queue("alerts", loadAlerts); },
  onResync: () => { loadAlerts(); loadRules(); },
});
