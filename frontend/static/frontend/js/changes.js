// Connection page, "Changes": who changed this connection and when (GET /api/audit?connection=), newest first.
// Field values come as the API gives them; secrets are only ever "(set)" / "(empty)" there.
import { api, items } from "./api.js";
import { ago, el, pageData, when } from "./ui.js";

const PAGE_SIZE = 20;
const body = document.getElementById("changes");
const more = document.getElementById("changes-more");
const id = pageData().connection;
let offset = 0;

function shown(value) {
  if (value === null || value === undefined || value === "") return "–";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function changeList(changes) {
  const fields = Object.entries(changes || {});
  if (!fields.length) return "";
  return el("ul", { style: "margin:0;padding-left:1rem" }, ...fields.map(([field, change]) =>
    el("li", {}, el("span", { class: "mono" }, field), ": ", shown(change.old), " → ", shown(change.new))));
}

function row(entry) {
  return el("tr", {}, el("td", { title: when(entry.at) }, ago(entry.at)), el("td", {}, entry.user || "?"),
    el("td", {}, el("span", { class: "tag" }, entry.action)), el("td", {}, changeList(entry.changes)));
}

async function load(reset = true) {
  if (reset) offset = 0;
  try {
    const data = await api(`/api/audit?connection=${id}&limit=${PAGE_SIZE}&offset=${offset}`);
    const rows = items(data).map(row);
    if (reset) body.replaceChildren(...rows);
    else body.append(...rows);
    if (reset && !rows.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "empty" }, "No changes recorded.")));
    offset += rows.length;
    more.hidden = !data || data.next_offset == null;
  } catch (error) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "empty" }, `Could not load changes: ${error.message}`)));
  }
}

if (body) {
  more.addEventListener("click", () => load(false));
  load(true);
}
