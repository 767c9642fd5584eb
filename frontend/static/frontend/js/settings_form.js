// The connection settings form (staff): client-side checks, then PATCH, with the API's reasons per field.
import { api } from "./api.js";
import { setText, toast } from "./ui.js";

const FIELDS = ["name", "host", "port", "protocol", "keepalive", "client_id", "username"];

export function topicsToText(topics) {
  return (topics || []).map((t) => `${t.filter} ${t.qos ?? 1}`).join("\n");
}

export function parseTopics(text) {
  const topics = [];
  for (const [index, line] of text.split("\n").entries()) {
    const parts = line.trim().split(/\s+/).filter(Boolean);
    if (!parts.length) continue;
    const qos = parts.length > 1 ? Number(parts[1]) : 1;
    if (parts.length > 2 || ![0, 1, 2].includes(qos)) throw new Error(`line ${index + 1}: write a filter and a QoS of 0, 1 or 2`);
    topics.push({ filter: parts[0], qos });
  }
  if (!topics.length) throw new Error("at least one topic filter is needed, e.g. sensors/# 1");
  return topics;
}

export class SettingsForm {
  constructor(form, connectionId, onSaved) {
    this.form = form;
    this.id = connectionId;
    this.onSaved = onSaved;
    this.original = null;
    form.addEventListener("submit", (e) => { e.preventDefault(); this.save(); });
  }

  input(name) { return this.form.querySelector(`[name="${name}"]`); }

  fill(connection) {
    this.original = connection;
    for (const name of FIELDS) if (this.input(name)) this.input(name).value = connection[name] ?? "";
    this.input("topics").value = topicsToText(connection.topics);
    this.input("tls_enabled").checked = Boolean(connection.tls && connection.tls.enabled);
    this.input("tls_insecure").checked = Boolean(connection.tls && connection.tls.insecure);
  }

  showErrors(fields) {
    for (const node of this.form.querySelectorAll(".field-error")) setText(node, "");
    for (const node of this.form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
    for (const [name, reason] of Object.entries(fields)) {
      const target = this.form.querySelector(`#e-${CSS.escape(name)}`) || this.form.querySelector("#e-__all__");
      setText(target, target.id === "e-__all__" && name !== "__all__" ? `${name}: ${reason}` : reason);
      const input = this.input({ tls: "tls_enabled", "tls.enabled": "tls_enabled", "tls.insecure": "tls_insecure" }[name] || name);
      if (input) input.setAttribute("aria-invalid", "true");
    }
    const first = this.form.querySelector("[aria-invalid='true']");
    if (first) first.focus();
  }

  collect() {
    const errors = {};
    const body = {};
    for (const name of FIELDS) {
      const value = this.input(name).value.trim();
      body[name] = ["port", "keepalive"].includes(name) ? Number(value) : value;
    }
    if (!body.name) errors.name = "A name is needed.";
    if (!body.host) errors.host = "The broker host must not be empty.";
    else if (/\s|\//.test(body.host)) errors.host = "A host name or IP address, without scheme or path.";
    if (!Number.isInteger(body.port) || body.port < 1 || body.port > 65535) errors.port = "A port between 1 and 65535.";
    if (!Number.isInteger(body.keepalive) || body.keepalive < 5) errors.keepalive = "At least 5 seconds.";
    try { body.topics = parseTopics(this.input("topics").value); } catch (error) { errors.topics = error.message; }
    const password = this.input("password").value;
    if (password) body.password = password;
    body.tls = { enabled: this.input("tls_enabled").checked, insecure: this.input("tls_insecure").checked };
    return { body, errors };
  }

  async save() {
    const status = document.getElementById("settings-status");
    const { body, errors } = this.collect();
    this.showErrors(errors);
    if (Object.keys(errors).length) { setText(status, "Please correct the fields marked."); return; }
    setText(status, "Saving…");
    try {
      const saved = await api(`/api/connections/${this.id}`, { method: "PATCH", body });
      this.input("password").value = "";
      setText(status, "Saved.");
      toast("Settings saved. The listener applies them within seconds.");
      if (saved) { this.fill(saved); this.onSaved(saved); }
    } catch (error) {
      this.showErrors(Object.keys(error.fields).length ? error.fields : { __all__: error.message });
      setText(status, "Not saved.");
    }
  }
}
