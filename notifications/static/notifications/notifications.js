// Live notifications client: one WebSocket per browser, shared by its tabs (tabs.js), or
// per page where tabs cannot share; the event stream where WebSockets fail
// (eventstream.js). No dependencies.
//
// Reconnects with exponential backoff and full jitter (capped at 30 s), late
// after 4409 (too many sockets), never after another 44xx close (4401 only
// after one retry, for a session that was cycled), heartbeats so a dead connection is noticed within
// heartbeat + timeout, resumes from its cursor so nothing sent while it was away
// is missed, and emits each notification once (de-duplicated by id).
//
// Events (CustomEvent, dispatched on the client and on `document`, all named
// "notifications:<name>"): open, message, sent, error, close, state, count,
// notification, reset, read-state, retracted, topic, transport, role. See docs/client.md.

import { EventStreamSocket } from "./eventstream.js";
import { TabGroup, sharingAvailable } from "./tabs.js";

const STATES = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"];

export const CLOSE_CODES = {
  1000: "normal closure",
  1001: "going away (server restart)",
  1006: "connection lost (no close frame)",
  1009: "message too big",
  1011: "server error",
  4009: "message too big",
  4013: "fell too far behind (reconnect and sync)",
  4000: "no heartbeat answer (client gave up)",
  4401: "not authenticated",
  4403: "forbidden",
  4409: "too many connections for this user",
  4429: "rate limited",
  4503: "database unavailable (retrying)",
};

const DEFAULTS = {
  path: "/ws/notifications/",
  heartbeatMs: 25000,
  heartbeatTimeoutMs: 10000,
  baseBackoffMs: 500,
  maxBackoffMs: 30000,
  busyBackoffMs: 30000, // after 4409: between this and twice this
  recountSpreadMs: 2000, // after a retraction, sync within this
  // WebSocket attempts in a row that never reached the server's hello before the client
  // falls back to the event stream (a proxy that blocks or cuts upgrades).
  socketFailuresBeforeFallback: 2,
  // A tab following another tab's connection waits this long for that tab to answer, and
  // after this many unanswered attempts in a row (the tab may hang) opens a connection of its own.
  relayAnswerMs: 5000,
  relayFailuresBeforeOwn: 2,
  // On a fallback transport, how often the client tries a WebSocket again (a network that
  // blocked it may have changed: another Wi-Fi, a VPN switched off).
  websocketRetryMs: 300000,
};

// What the page's scripts show; the page's config carries them in its language
// ({% notifications_scripts %}: client_strings()).
const STRINGS = {
  reconnecting: "reconnecting…",
  closed: "closed",
  signedOut: "signed out",
  disconnected: "disconnected",
  more: "more",
  dismiss: "Dismiss",
  deleted: "Deleted.",
  undo: "Undo",
  desktopBlocked: "Desktop notifications are blocked in this browser",
};

function topicKey(topic, params) {
  const sorted = Object.keys(params || {})
    .sort()
    .map((key) => [key, params[key]]);
  return `${topic}\n${JSON.stringify(sorted)}`;
}

function cursorId(cursor) {
  if (!cursor) return 0;
  const id = Number(String(cursor).split(".")[1]);
  return Number.isFinite(id) ? id : 0;
}

export class NotificationClient extends EventTarget {
  constructor(options = {}) {
    super();
    this.options = { ...DEFAULTS, ...options };
    this.url = new URL(this.options.path, window.location.href);
    this.url.protocol = this.url.protocol === "https:" ? "wss:" : "ws:";
    this.socket = null;
    // "websocket"; "eventstream" after WebSockets failed, "longpoll" after streams failed too.
    this.transport = "websocket";
    this.socketFailures = 0;
    this.unreadCount = null;
    this.cursor = null; // the server's cursor; null until the first sync
    // The newest id the page was rendered with (if the server put it in the config):
    // anything above it in the first reset is new to the person, so it is shown as an arrival.
    this.newestId = Number(this.options.newestId) || 0;
    this.knowsNewest = this.options.newestId !== undefined && this.options.newestId !== null;
    this.seen = new Set();
    this.attempt = 0;
    this.stopped = false;
    this.finalCode = null;
    this.wasOpen = false; // greeted on the current socket
    this.authRetried = false;
    this.behind = false;
    this.syncing = false;
    this.timers = {};
    this.subscriptions = new Map(); // topicKey -> {topic, params, handler}
    // "own": a connection of its own; "leader": its connection serves the browser's other tabs
    // too; "follower": it uses the connection of the leading tab (see tabs.js).
    this.role = "own";
    this.group = null;
    this.relayFailures = 0;
  }

  /** "CONNECTING" | "OPEN" | "CLOSING" | "CLOSED", as the WebSocket reports it. */
  get readyState() {
    return this.socket ? STATES[this.socket.readyState] : "CLOSED"; // the event stream uses the same numbers
  }

  connect() {
    this.stopped = false;
    this.finalCode = null;
    clearTimeout(this.timers.reconnect);
    const socket = this.role === "follower" ? this.group.relaySocket(this.options.relayAnswerMs) : this.openTransport();
    this.socket = socket;
    this.emit("state", { state: "CONNECTING" });
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      if (this.role === "follower") this.followTransport(socket.transport);
      this.emit("open", {});
      this.emit("state", { state: "OPEN" });
      this.startHeartbeat();
    });
    socket.addEventListener("message", (event) => {
      if (socket === this.socket) this.onFrame(event.data);
    });
    socket.addEventListener("error", () => {
      if (socket === this.socket) this.emit("error", {});
    });
    socket.addEventListener("close", (event) => {
      if (socket === this.socket) this.onClose(event);
    });
  }

  openTransport() {
    if (this.role === "leader") this.group.connectionOpening();
    if (this.transport === "websocket") return new WebSocket(this.url);
    return new EventStreamSocket(this.options.streamPath, {
      cursor: this.cursor,
      apiPath: this.options.apiPath,
      csrfToken: this.options.csrfToken,
      pollPath: this.transport === "longpoll" ? this.options.pollPath : null,
    });
  }

  /**
   * Share one connection with the browser's other tabs of this site (`key`: the site's socket
   * and the user). Resolves once this tab knows whether it leads or follows.
   */
  async shareWithTabs(key) {
    this.group = new TabGroup(key, { onLead: () => this.takeOver(), onLeaderReady: () => this.joinLeaderNow() });
    if (await this.group.elect()) {
      this.setRole("leader", "the first tab of this site in this browser");
      this.group.lead(this);
    } else {
      this.setRole("follower", "another tab of this site holds the connection");
    }
  }

  // The leading tab went away and the browser gave this tab the lock: open the connection.
  takeOver() {
    const relay = this.socket;
    this.socket = null; // its close below is not this client's close
    if (relay && relay.readyState !== WebSocket.CLOSED) relay.close(1000, "this tab holds the connection now");
    this.clearTimers();
    this.setRole("leader", "the tab that held the connection closed");
    this.group.lead(this);
    if (this.finalCode === null) {
      this.attempt = 0;
      this.connect();
    }
  }

  // The leader's connection opened while this tab waited out a backoff: join it now.
  joinLeaderNow() {
    if (this.role === "follower" && !this.stopped && this.readyState === "CLOSED") this.connect();
  }

  followTransport(transport) {
    if (!transport || transport === this.transport) return;
    this.transport = transport;
    this.emit("transport", { transport, reason: "the tab holding the shared connection uses it" });
  }

  setRole(role, reason) {
    this.role = role;
    this.emit("role", { role, reason });
  }

  /** Close for good (the page is leaving, or the person asked). */
  close(code = 1000, reason = "closed by the page") {
    this.stopped = true;
    this.clearTimers();
    clearInterval(this.websocketRetry);
    if (this.group) {
      this.group.leave(); // the next tab takes the connection over
      this.group = null;
      this.role = "own";
    }
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) this.socket.close(code, reason);
  }

  /** Drop the current connection and open a new one now. */
  reconnect() {
    this.attempt = 0;
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) {
      this.stopped = true; // the close below must not schedule its own reconnect
      this.socket.close(1000, "reconnecting");
      if (this.role === "leader") this.group.connectionClosed(1000, "the shared connection is reconnecting");
    }
    this.clearTimers();
    this.connect();
  }

  send(frame) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    if (this.role === "leader") this.group.forward(this.group.id, frame);
    else this.socket.send(JSON.stringify(frame));
    this.emit("sent", { frame });
    return true;
  }

  sync() {
    this.syncing = true;
    return this.send({ type: "sync", cursor: this.cursor });
  }

  /**
   * Follow another app's topic on this socket; `handler(data, frame)` gets each event.
   * Survives reconnects (the client subscribes again). Returns a function that unsubscribes.
   */
  subscribe(topic, params, handler) {
    this.subscriptions.set(topicKey(topic, params), { topic, params, handler });
    this.send({ type: "subscribe", topic, params });
    return () => this.unsubscribe(topic, params);
  }

  unsubscribe(topic, params) {
    this.subscriptions.delete(topicKey(topic, params));
    this.send({ type: "unsubscribe", topic, params });
  }

  markRead(ids) {
    return this.send({ type: "mark_read", ids: [...ids] });
  }

  markAllRead() {
    return this.send({ type: "mark_all_read", up_to: this.newestId || undefined });
  }

  onFrame(text) {
    // A leading tab passes frames on to the other tabs, and keeps only what is for itself.
    const mine = this.role === "leader" ? this.group.fromServer(text) : text;
    if (mine !== null) this.handleFrame(mine);
  }

  handleFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    this.emit("message", { frame });
    switch (frame.type) {
      case "hello":
        this.attempt = 0;
        this.socketFailures = 0;
        this.relayFailures = 0;
        this.wasOpen = true;
        this.authRetried = false;
        this.setCount(frame.unread_count);
        this.sync();
        for (const { topic, params } of this.subscriptions.values()) this.send({ type: "subscribe", topic, params });
        break;
      case "topic": {
        // (A shared connection carries the topics of every tab: each page keeps its own.)
        const subscription = this.subscriptions.get(topicKey(frame.topic, frame.params));
        if (!subscription) break;
        subscription.handler(frame.data, frame);
        this.emit("topic", { ...frame });
        break;
      }
      case "notification":
        // Counted once: a sync may already have brought it (and counted it).
        if (this.show([frame.notification], "live") && !frame.notification.read) this.setCount((this.unreadCount || 0) + 1);
        break;
      case "sync":
        if (frame.reset) {
          const known = this.knowsNewest ? this.newestId : Infinity;
          const had = frame.notifications.filter((item) => item.id <= known);
          for (const item of had) this.remember(item);
          this.emit("reset", { notifications: had });
          this.show(
            frame.notifications.filter((item) => item.id > known),
            "sync",
          );
          this.knowsNewest = true;
        } else {
          this.show(frame.notifications, "sync");
        }
        if (frame.more) {
          this.send({ type: "sync", cursor: frame.cursor });
        } else {
          this.cursor = frame.cursor;
          this.syncing = false;
        }
        this.setCount(frame.unread_count);
        break;
      case "pong":
        clearTimeout(this.timers.pongDeadline);
        this.checkBehind(frame);
        break;
      case "resync":
        this.sync();
        break;
      case "retracted":
        // Deleted for everyone: pages drop them as if the person had deleted them, and the
        // count comes from a sync (spread out: a retraction may reach every page at once).
        this.emit("retracted", { ids: frame.ids });
        this.emit("read-state", { type: "read_state", change: "deleted", ids: frame.ids, up_to: null });
        clearTimeout(this.timers.recount);
        this.timers.recount = setTimeout(() => this.readyState === "OPEN" && this.sync(), Math.random() * this.options.recountSpreadMs);
        break;
      case "read_state":
        this.setCount(frame.unread_count);
        this.emit("read-state", { ...frame });
        break;
      case "ack":
        this.setCount(frame.unread_count);
        break;
      case "error":
        this.emit("error", { code: frame.code, message: frame.message });
        if (frame.code === "unavailable" && this.syncing) {
          // The server's database did not answer: try the sync again a little later.
          this.syncing = false;
          clearTimeout(this.timers.retrySync);
          this.timers.retrySync = setTimeout(() => this.readyState === "OPEN" && this.sync(), 2000 + Math.random() * 3000);
        }
        break;
      default:
        break;
    }
  }

  // A pong carries the inbox's newest id and true count. Behind twice in a row
  // (the first time a notification may just be in flight): something was dropped.
  checkBehind(frame) {
    if (frame.latest_cursor === undefined) return; // the server answered without its database
    const behind = cursorId(frame.latest_cursor) > this.newestId || frame.unread_count !== this.unreadCount;
    if (behind && this.behind && !this.syncing) {
      this.sync();
      this.behind = false;
    } else {
      this.behind = behind;
      if (behind) this.timers.recheck = setTimeout(() => this.ping(), 1000);
    }
  }

  remember(item) {
    const isNew = !this.seen.has(item.id);
    this.seen.add(item.id);
    if (item.id > this.newestId) this.newestId = item.id;
    return isNew;
  }

  /** Emit the items this page has not shown yet; true if any was new. */
  show(items, source) {
    let any = false;
    for (const item of items) {
      if (!this.remember(item)) continue;
      any = true;
      this.emit("notification", { notification: item, source });
    }
    return any;
  }

  onClose(event) {
    this.clearTimers();
    if (this.role === "leader") this.group.connectionClosed(event.code, event.reason);
    // byPage: this page closed it (close() or reconnect()), not the server or the network.
    this.emit("close", { code: event.code, reason: event.reason, meaning: CLOSE_CODES[event.code] || "", byPage: this.stopped });
    if (this.stopped) {
      this.emit("state", { state: "CLOSED", code: event.code, byPage: true });
      return;
    }
    if (this.role === "follower" && this.socket.unanswered) {
      this.relayFailures += 1;
      // No tab answers for the shared connection (its tab may hang): open one of this tab's own.
      if (this.relayFailures >= this.options.relayFailuresBeforeOwn) this.setRole("own", "no tab answered for the shared connection");
    }
    // 4401 on a socket that was open: the login may live on under a new session key
    // (a password change cycles it), so try once more; a second 4401 is final.
    const retryAuth = event.code === 4401 && this.wasOpen && !this.authRetried;
    if (!this.wasOpen && this.role !== "follower" && (event.code < 4400 || event.code >= 4500)) this.fallBackAfterFailure();
    this.wasOpen = false;
    if (event.code >= 4400 && event.code < 4500 && event.code !== 4429 && event.code !== 4409 && !retryAuth) {
      // Not signed in, or not allowed: reconnecting cannot help. Tell the page.
      this.stopped = true;
      this.finalCode = event.code;
      this.emit("state", { state: "CLOSED", code: event.code, final: true });
      return;
    }
    this.authRetried = retryAuth;
    let delay;
    if (event.code === 4409) {
      // Too many sockets for this person: one may close soon (a tab, or a server that restarted
      // and left its count behind). Retry late, spread out.
      delay = this.options.busyBackoffMs * (1 + Math.random());
    } else {
      // Exponential backoff with full jitter, capped.
      const ceiling = Math.min(this.options.maxBackoffMs, this.options.baseBackoffMs * 2 ** this.attempt);
      delay = Math.random() * ceiling;
      this.attempt += 1;
    }
    this.emit("state", { state: "CLOSED", code: event.code, reconnectInMs: Math.round(delay) });
    this.timers.reconnect = setTimeout(() => this.connect(), delay);
  }

  // Blocked or cut before the server's hello, again and again, while the server answers
  // plain HTTP (so it is not simply down or restarting): go on over the next transport.
  async fallBackAfterFailure() {
    const from = this.transport;
    const next = { websocket: "eventstream", eventstream: "longpoll" }[this.transport];
    const path = { eventstream: this.options.streamPath, longpoll: this.options.pollPath }[next];
    if (!next || !path) return;
    this.socketFailures += 1;
    if (this.socketFailures < this.options.socketFailuresBeforeFallback) return;
    let serverAnswers = false;
    try {
      const response = await fetch(`${this.options.apiPath}unread-count/`, { credentials: "same-origin" });
      serverAnswers = response.ok;
    } catch {
      serverAnswers = false;
    }
    if (!serverAnswers || this.transport !== from || this.wasOpen) {
      this.socketFailures = 0; // the server itself is away: keep trying this transport
      return;
    }
    const reason = `${this.socketFailures} ${from === "websocket" ? "WebSocket connections" : "event streams"} in a row failed while the server answered HTTP`;
    this.transport = next;
    this.socketFailures = 0;
    this.attempt = 0;
    this.emit("transport", { transport: this.transport, reason });
    clearInterval(this.websocketRetry);
    this.websocketRetry = setInterval(() => this.retryWebSocket(), this.options.websocketRetryMs);
  }

  /**
   * On a fallback: try a WebSocket on the side; if the server greets it, move back to
   * WebSockets (the new connection syncs from the cursor, so nothing is lost). Resolves
   * true when it moved.
   */
  retryWebSocket() {
    if (this.transport === "websocket" || this.role === "follower" || this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const probe = new WebSocket(this.url);
      const give = (moved) => {
        clearTimeout(deadline);
        resolve(moved);
      };
      const deadline = setTimeout(() => {
        probe.close();
        give(false);
      }, this.options.heartbeatTimeoutMs);
      probe.addEventListener("message", (event) => {
        if (!String(event.data).startsWith('{"type":"hello"')) return;
        probe.close(1000, "probe: WebSockets work");
        clearInterval(this.websocketRetry);
        this.transport = "websocket";
        this.emit("transport", { transport: "websocket", reason: "WebSockets work again on this network" });
        this.reconnect();
        give(true);
      });
      probe.addEventListener("close", () => give(false));
    });
  }

  ping() {
    if (!this.send({ type: "ping", ref: Date.now() })) return;
    clearTimeout(this.timers.pongDeadline);
    this.timers.pongDeadline = setTimeout(() => {
      if (this.socket) this.socket.close(4000, "no heartbeat answer");
    }, this.options.heartbeatTimeoutMs);
  }

  startHeartbeat() {
    clearInterval(this.timers.heartbeat);
    this.timers.heartbeat = setInterval(() => this.ping(), this.options.heartbeatMs);
  }

  clearTimers() {
    clearInterval(this.timers.heartbeat);
    clearTimeout(this.timers.pongDeadline);
    clearTimeout(this.timers.reconnect);
    clearTimeout(this.timers.recheck);
    clearTimeout(this.timers.recount);
    clearTimeout(this.timers.retrySync);
  }

  setCount(count) {
    if (count === this.unreadCount) return;
    this.unreadCount = count;
    this.emit("count", { unreadCount: count });
  }

  emit(name, detail) {
    const type = `notifications:${name}`;
    this.dispatchEvent(new CustomEvent(type, { detail }));
    document.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/** A user-visible string in the page's language (English when the page's config has none). */
export function text(key) {
  return (client && client.options.strings && client.options.strings[key]) || STRINGS[key];
}

function readConfig() {
  const element = document.getElementById("notifications-config");
  return element ? JSON.parse(element.textContent) : null;
}

function start() {
  const config = readConfig();
  if (!config) return null;
  const instance = new NotificationClient(config);
  // A page may ask for a connection of its own (the connection page shows its own handshake).
  const share = Boolean(config.shareKey) && sharingAvailable() && !document.querySelector("[data-notifications-own-connection]");
  const begin = async () => {
    if (share) await instance.shareWithTabs(`${instance.url.href}|${config.shareKey}`);
    instance.connect();
  };
  window.addEventListener("pagehide", () => instance.close(1000, "page hidden"));
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) begin(); // restored from the back/forward cache
  });
  // Connect after the other modules of the page have subscribed to its events.
  queueMicrotask(begin);
  return instance;
}

/** The page's one client (null on pages without the config, e.g. for anonymous visitors). */
export const client = start();
