// The /ws/events/ socket: reconnects by itself with capped backoff and jitter, re-sends its subscriptions,
// and tells the page to resynchronise from the API after every reconnect. When the server loses its event
// bus (Redis) under an open socket it says so ("live.interrupted"): the page shows "Reconnecting…" until
// the server has rejoined and says "resync", and then reloads what the gap may have lost.

const CLOSE_UNAUTHENTICATED = 4401;

export class LiveEvents {
  constructor({ onEvent, onResync, stateElement = document.getElementById("live-state") } = {}) {
    this.onEvent = onEvent || (() => {});
    this.onResync = onResync || (() => {});
    this.stateElement = stateElement;
    this.subscriptions = new Map(); // connection id -> {events (null for the connection's), topics}
    this.attempt = 0;
    this.everOpened = false;
    this.socket = null;
    this.open();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/ws/events/`;
  }

  setState(state, label) {
    if (!this.stateElement) return;
    this.stateElement.dataset.state = state;
    this.stateElement.textContent = label;
  }

  open() {
    this.setState("connecting", this.everOpened ? "Reconnecting…" : "Connecting…");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.setState("open", "Live");
      for (const [id, wanted] of this.subscriptions) this.sendSubscribe(id, wanted);
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.onResync({ reconnected });
    });
    socket.addEventListener("message", (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch { return; }
      if (event.type === "error") console.warn("live events:", event.message);
      if (event.type === "subscribed" || event.type === "unsubscribed") this.markSubscribed(event);
      if (event.type === "live.interrupted") {
        this.setState("connecting", "Reconnecting…");
        return;
      }
      if (event.type === "resync") {
        this.setState("open", "Live");
        this.onResync({ reconnected: true });
        return;
      }
      if (event.type === "connection.deleted") this.subscriptions.delete(event.connection);
      this.onEvent(event);
    });
    socket.addEventListener("close", (close) => {
      if (this.stateElement) this.stateElement.dataset.subscribed = "";
      if (close.code === CLOSE_UNAUTHENTICATED) {
        location.assign(`/accounts/login/?next=${encodeURIComponent(location.pathname)}`);
        return;
      }
      this.setState("closed", "Offline, retrying…");
      const delay = Math.min(15000, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt += 1;
      setTimeout(() => this.open(), delay);
    });
  }

  // Mirror the server's confirmed subscriptions on the status element (tests and debugging read it).
  markSubscribed(event) {
    if (!this.stateElement) return;
    const ids = new Set((this.stateElement.dataset.subscribed || "").split(" ").filter(Boolean));
    if (event.type === "subscribed") ids.add(String(event.connection)); else ids.delete(String(event.connection));
    this.stateElement.dataset.subscribed = [...ids].join(" ");
  }

  sendSubscribe(id, { events, topics }) {
    const message = { action: "subscribe", connection: id };
    if (events) message.events = events;
    if (topics && topics.length) message.topics = topics;
    this.send(message);
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  // `topics`: topic ids whose every reading is wanted (with the "topic.readings" event type).
  subscribe(id, events = null, topics = null) {
    const wanted = { events, topics };
    this.subscriptions.set(id, wanted);
    this.sendSubscribe(id, wanted);
  }

  unsubscribe(id) {
    if (this.subscriptions.delete(id)) this.send({ action: "unsubscribe", connection: id });
  }
}
