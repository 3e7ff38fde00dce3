// Live notifications client: one WebSocket per page, no dependencies.
// Reads its options from the json_script element "notifications-config",
// keeps the bell's count current, and emits CustomEvents on `document`:
//   notifications:open, notifications:message, notifications:notification,
//   notifications:error, notifications:close, notifications:state
// Every string from the server is rendered with textContent, never as HTML.

const STATES = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"];
const MAX_BACKOFF_MS = 30000;
const BASE_BACKOFF_MS = 500;
const HEARTBEAT_MS = 25000;
const HEARTBEAT_TIMEOUT_MS = 10000;

export class NotificationClient extends EventTarget {
  constructor({ path = "/ws/notifications/" } = {}) {
    super();
    this.url = new URL(path, window.location.href);
    this.url.protocol = this.url.protocol === "https:" ? "wss:" : "ws:";
    this.socket = null;
    this.unreadCount = null;
    this.lastId = 0;
    this.seen = new Set();
    this.attempt = 0;
    this.stopped = false;
    this.timers = {};
  }

  get readyState() {
    return this.socket ? STATES[this.socket.readyState] : "CLOSED";
  }

  connect() {
    this.stopped = false;
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.emit("state", { state: "CONNECTING" });
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.emit("open", {});
      this.emit("state", { state: "OPEN" });
      this.startHeartbeat();
    });
    socket.addEventListener("message", (event) => this.onFrame(event.data));
    socket.addEventListener("error", () => this.emit("error", {}));
    socket.addEventListener("close", (event) => this.onClose(event));
  }

  close() {
    this.stopped = true;
    this.clearTimers();
    if (this.socket) this.socket.close(1000, "closed by the page");
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  onFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    this.emit("message", { frame });
    if (frame.type === "hello") {
      this.setCount(frame.unread_count);
    } else if (frame.type === "notification") {
      const item = frame.notification;
      if (this.seen.has(item.id)) return;
      this.seen.add(item.id);
      this.lastId = Math.max(this.lastId, item.id);
      if (!item.read) this.setCount((this.unreadCount || 0) + 1);
      this.emit("notification", { notification: item });
    } else if (frame.type === "read_state" || frame.type === "ack") {
      this.setCount(frame.unread_count);
    } else if (frame.type === "pong") {
      clearTimeout(this.timers.pongDeadline);
    }
  }

  onClose(event) {
    this.clearTimers();
    this.emit("close", { code: event.code, reason: event.reason });
    this.emit("state", { state: "CLOSED", code: event.code });
    if (this.stopped) return;
    if (event.code >= 4400 && event.code < 4500 && event.code !== 4429) {
      // Authentication or permission refused: reconnecting cannot help.
      this.stopped = true;
      this.emit("state", { state: "CLOSED", code: event.code, final: true });
      return;
    }
    // Exponential backoff with full jitter, capped.
    const ceiling = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** this.attempt);
    this.attempt += 1;
    this.timers.reconnect = setTimeout(() => this.connect(), Math.random() * ceiling);
  }

  startHeartbeat() {
    this.timers.heartbeat = setInterval(() => {
      if (!this.send({ type: "ping", ref: Date.now() })) return;
      clearTimeout(this.timers.pongDeadline);
      this.timers.pongDeadline = setTimeout(() => this.socket && this.socket.close(4000, "heartbeat timeout"), HEARTBEAT_TIMEOUT_MS);
    }, HEARTBEAT_MS);
  }

  clearTimers() {
    clearInterval(this.timers.heartbeat);
    clearTimeout(this.timers.pongDeadline);
    clearTimeout(this.timers.reconnect);
  }

  setCount(count) {
    this.unreadCount = count;
    this.emit("count", { unreadCount: count });
  }

  emit(name, detail) {
    const event = new CustomEvent(`notifications:${name}`, { detail });
    this.dispatchEvent(event);
    document.dispatchEvent(new CustomEvent(`notifications:${name}`, { detail }));
  }
}

function bindBell(client) {
  const bell = document.querySelector("[data-notifications-bell]");
  if (!bell) return;
  const status = bell.querySelector("[data-notifications-status]");
  client.addEventListener("notifications:count", (event) => {
    for (const count of document.querySelectorAll("[data-notifications-count]")) {
      count.textContent = String(event.detail.unreadCount);
    }
  });
  client.addEventListener("notifications:state", (event) => {
    const { state, code, final } = event.detail;
    bell.dataset.state = state.toLowerCase();
    if (state === "OPEN") status.textContent = "";
    else if (final) status.textContent = code === 4401 ? "signed out" : "disconnected";
    else if (state === "CLOSED") status.textContent = "reconnecting…";
    else status.textContent = "connecting…";
  });
}

function start() {
  const configElement = document.getElementById("notifications-config");
  if (!configElement) return null;
  const client = new NotificationClient(JSON.parse(configElement.textContent));
  bindBell(client);
  client.connect();
  window.addEventListener("pagehide", () => client.close());
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) client.connect(); // restored from the back/forward cache
  });
  return client;
}

export const client = start();
