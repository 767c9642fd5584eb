// JSON API client: session cookie + CSRF header, readable errors with the field that caused them.

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class ApiError extends Error {
  constructor(status, message, fields = {}) {
    super(message);
    this.status = status;
    this.fields = fields; // {fieldName: "reason"}
  }
}

// Turn the API's error body `{"detail": "...", "errors": [{"field": "port", "message": "..."}]}` (or a
// django-ninja 422 list) into one sentence plus per-field reasons for forms.
function describeError(status, body) {
  const fields = {};
  const list = Array.isArray(body && body.errors) ? body.errors : Array.isArray(body && body.detail) ? body.detail : [];
  for (const item of list) {
    const loc = item.loc ? item.loc.filter((part) => !["body", "payload", "query", "path"].includes(part)).join(".") : item.field;
    const name = loc || "__all__";
    const message = item.message ?? item.msg ?? "invalid";
    fields[name] = fields[name] ? `${fields[name]} ${message}` : message;
  }
  const detail = body && typeof body.detail === "string" ? body.detail : "";
  const text = detail || Object.entries(fields).map(([k, v]) => (k === "__all__" ? v : `${k}: ${v}`)).join("; ");
  return new ApiError(status, text || `Request failed (${status})`, fields);
}

export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  let response;
  try {
    response = await fetch(path, {
      method, headers, signal, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "The server cannot be reached. Retrying when the connection is back.");
  }
  if (response.status === 401) {
    window.location.assign(`/accounts/login/?next=${encodeURIComponent(location.pathname + location.search)}`);
    throw new ApiError(401, "Please log in again.");
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text.slice(0, 200) }; }
  if (!response.ok) throw describeError(response.status, data);
  return data;
}

export function items(data) {
  if (Array.isArray(data)) return data;
  return (data && (data.items || data.results)) || [];
}

// Every row of a paginated list: follows `next_offset` (the API's limit/offset pages) up to maxRows.
export async function fetchAll(path, pageSize = 500, maxRows = 20000) {
  const rows = [];
  let offset = 0;
  while (offset != null && rows.length < maxRows) {
    const sep = path.includes("?") ? "&" : "?";
    const data = await api(`${path}${sep}limit=${pageSize}&offset=${offset}`);
    rows.push(...items(data));
    offset = Array.isArray(data) || !data ? null : data.next_offset;
  }
  return rows;
}
