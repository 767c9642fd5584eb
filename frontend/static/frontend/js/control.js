// Start/Stop with feedback: "starting…"/"stopping…" until a connection.status event confirms the new state.
import { api } from "./api.js";
import { toast } from "./ui.js";

const CONFIRM_TIMEOUT_MS = 45000;

export class StartStop {
  // onChange(id) is called whenever a connection's pending state or error changes.
  constructor(onChange) {
    this.onChange = onChange;
    this.pending = new Map(); // id -> {action: "starting"|"stopping", timer}
    this.errors = new Map(); // id -> reason shown next to the badge
  }

  label(id) { return this.pending.get(id)?.action || ""; }

  async toggle(connection) {
    const id = connection.connection;
    const action = connection.is_active ? "stopping" : "starting";
    this.errors.delete(id);
    this.setPending(id, action);
    try {
      const answer = await api(`/api/connections/${id}/${action === "starting" ? "start" : "stop"}`, { method: "POST" });
      connection.is_active = answer && "is_active" in answer ? answer.is_active : action === "starting";
    } catch (error) {
      this.clear(id);
      this.errors.set(id, error.message);
      toast(`Could not ${action === "starting" ? "start" : "stop"} ${connection.name}: ${error.message}`, "bad");
    }
    this.onChange(id);
  }

  setPending(id, action) {
    this.clear(id);
    const timer = setTimeout(() => {
      this.pending.delete(id);
      toast("No confirmation from the listener yet; the state shown is the last one reported.", "bad");
      this.onChange(id);
    }, CONFIRM_TIMEOUT_MS);
    this.pending.set(id, { action, timer });
    this.onChange(id);
  }

  clear(id) {
    const entry = this.pending.get(id);
    if (entry) clearTimeout(entry.timer);
    this.pending.delete(id);
  }

  // A status event arrived: settle the pending action if it is the awaited outcome.
  confirm(event) {
    const id = event.connection;
    const entry = this.pending.get(id);
    if (event.status === "error") {
      this.errors.set(id, event.detail || "The broker refused the connection.");
    } else if (event.status === "connected" || event.status === "stopped") {
      this.errors.delete(id);
    }
    if (!entry) return;
    const done = entry.action === "starting" ? ["connected", "error"] : ["stopped", "error"];
    if (done.includes(event.status)) this.clear(id);
  }
}
