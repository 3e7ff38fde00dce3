// One connection per browser: the tabs of a site share the connection of one of them.
//
// The tab holding a Web Lock leads: its NotificationClient opens the real connection
// (WebSocket, or the event stream where those fail). The other tabs follow: their client
// talks through a TabRelaySocket, shaped like a WebSocket, whose frames cross a
// BroadcastChannel to the leading tab and back. The leader
//   - passes on what the server pushes (hello, notification, read_state, resync, topic, ...)
//     to every tab,
//   - sends each tab's requests under a ref of its own and gives the answer (sync pages,
//     acks, pongs, errors) to that tab alone,
//   - keeps a topic subscribed while any tab follows it.
// When the leading tab goes, the browser grants the lock to the next tab, which opens a
// connection of its own; every tab then syncs from its own cursor, so nothing sent during
// the handover is lost (and nothing is shown twice: each client de-duplicates by id).
//
// Messages on the channel: {kind, from, to?, ...}; followers send "join", "send" and
// "leave"; the leader answers "waiting" (connecting), "hello", "frame" and "down" (its
// connection closed, with the close code), and announces itself with "lead".

const RELAY_REF = "tab:";
const FROM_LEADER = new Set(["lead", "waiting", "hello", "frame", "down"]);
const MAX_PENDING = 1000;
const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/** Whether this browser can share a connection between tabs (Web Locks need a secure context). */
export function sharingAvailable() {
  return typeof BroadcastChannel === "function" && Boolean(navigator.locks && navigator.locks.request);
}

function topicKey(frame) {
  const params = frame.params || {};
  const sorted = Object.keys(params)
    .sort()
    .map((key) => [key, params[key]]);
  return `${frame.topic}\n${JSON.stringify(sorted)}`;
}

export class TabGroup {
  /**
   * `onLead` runs when this tab becomes the leader after following; `onLeaderReady` when the
   * leader's connection opened while this tab waited to join again.
   */
  constructor(key, { onLead, onLeaderReady }) {
    this.id = `${Date.now().toString(36)}.${Math.random().toString(36).slice(2, 10)}`;
    this.name = `notifications:${key}`;
    this.onLead = onLead;
    this.onLeaderReady = onLeaderReady;
    this.leading = false;
    this.client = null; // the leader's NotificationClient
    this.relay = null; // a follower's current TabRelaySocket
    this.hello = null; // the leader's last hello frame from the server
    this.pending = new Map(); // relay ref -> {tab, ref}
    this.topics = new Map(); // topic key -> {topic, params, tabs: ids of the tabs following it}
    this.sent = 0;
    this.queue = new AbortController();
    this.channel = new BroadcastChannel(this.name);
    this.channel.addEventListener("message", (event) => this.receive(event.data));
  }

  /** Take the lock if it is free (resolves true: lead) or queue for it (resolves false: follow). */
  async elect() {
    const leads = await new Promise((resolve) => {
      navigator.locks
        .request(this.name, { ifAvailable: true }, (lock) => {
          resolve(lock !== null);
          return lock ? this.holdLock() : undefined;
        })
        .catch(() => resolve(false));
    });
    if (!leads) {
      navigator.locks
        .request(this.name, { signal: this.queue.signal }, () => {
          this.onLead();
          return this.holdLock();
        })
        .catch(() => {}); // aborted: the page left
    }
    return leads;
  }

  holdLock() {
    return new Promise((resolve) => (this.releaseLock = resolve));
  }

  /** This tab's client now holds the connection for every tab. */
  lead(client) {
    this.leading = true;
    this.client = client;
    this.post({ kind: "lead" });
  }

  /** The page is leaving: hand the connection over and stop taking part. */
  leave() {
    if (this.leading) this.post({ kind: "down", code: 1001, reason: "the tab holding the connection closed" });
    else if (this.relay) this.relay.close(1000, "page hidden");
    this.leading = false;
    this.queue.abort();
    if (this.releaseLock) this.releaseLock();
    this.channel.close();
  }

  post(message) {
    this.channel.postMessage({ ...message, from: this.id });
  }

  receive(message) {
    if (message.to && message.to !== this.id) return;
    if (this.leading) this.serveFollower(message);
    else if (!FROM_LEADER.has(message.kind)) return;
    else if (this.relay) this.relay.receive(message);
    else if (message.kind === "hello") this.onLeaderReady();
  }

  // --- leader -------------------------------------------------------------------------

  serveFollower(message) {
    const tab = message.from;
    if (message.kind === "join") {
      if (this.client.finalCode !== null) this.post({ kind: "down", to: tab, code: this.client.finalCode, reason: "" });
      else if (this.hello && this.client.readyState === "OPEN") this.post({ kind: "hello", to: tab, ...this.helloMessage(true) });
      else this.post({ kind: "waiting", to: tab });
    } else if (message.kind === "send" && this.client.readyState === "OPEN") {
      this.forward(tab, JSON.parse(message.text));
    } else if (message.kind === "leave") {
      this.dropTab(tab);
    }
  }

  helloMessage(current) {
    // A tab joining later gets the count as it is now, not as it was at connect.
    const hello = current && this.client.unreadCount !== null ? { ...this.hello, unread_count: this.client.unreadCount } : this.hello;
    return { text: JSON.stringify(hello), transport: this.client.transport };
  }

  /** A new server connection is opening: it knows none of the old requests or topics. */
  connectionOpening() {
    this.hello = null;
    this.pending.clear();
    this.topics.clear();
  }

  /** The leader's connection closed: every tab hears the code, as if its own socket closed. */
  connectionClosed(code, reason) {
    if (this.leading) this.post({ kind: "down", code, reason });
  }

  /** A frame from one of the tabs (this one included) to the server, under a ref of the leader's. */
  forward(tab, frame) {
    if (frame.type === "subscribe") {
      const key = topicKey(frame);
      if (!this.topics.has(key)) this.topics.set(key, { topic: frame.topic, params: frame.params, tabs: new Set() });
      this.topics.get(key).tabs.add(tab);
    } else if (frame.type === "unsubscribe") {
      const holders = this.topics.get(topicKey(frame))?.tabs;
      if (holders) holders.delete(tab);
      if (holders && holders.size > 0) {
        // Another tab still follows it: the connection stays subscribed.
        this.answer(tab, JSON.stringify({ type: "unsubscribed", topic: frame.topic, params: frame.params, ref: frame.ref }));
        return;
      }
      this.topics.delete(topicKey(frame));
    }
    this.sendAs(tab, frame);
  }

  sendAs(tab, frame) {
    const ref = `${RELAY_REF}${++this.sent}`;
    this.pending.set(ref, { tab, ref: frame.ref });
    if (this.pending.size > MAX_PENDING) this.pending.delete(this.pending.keys().next().value);
    this.client.socket.send(JSON.stringify({ ...frame, ref }));
  }

  /**
   * A frame from the server: an answer goes to the tab that asked (returns the text if that
   * is this tab, else null); anything else goes to every tab (and is returned for this one).
   */
  fromServer(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return text;
    }
    const route = typeof frame.ref === "string" ? this.pending.get(frame.ref) : undefined;
    if (route) {
      this.pending.delete(frame.ref);
      const answer = JSON.stringify({ ...frame, ref: route.ref });
      if (route.tab === this.id) return answer;
      if (route.tab !== null) this.answer(route.tab, answer);
      return null;
    }
    if (frame.type === "hello") {
      this.hello = frame;
      this.post({ kind: "hello", ...this.helloMessage(false) });
    } else {
      this.post({ kind: "frame", text });
    }
    return text;
  }

  answer(tab, text) {
    if (tab === this.id) queueMicrotask(() => this.client.handleFrame(text));
    else this.post({ kind: "frame", to: tab, text });
  }

  dropTab(tab) {
    for (const [ref, route] of this.pending) if (route.tab === tab) this.pending.delete(ref);
    for (const [key, { topic, params, tabs }] of this.topics) {
      if (!tabs.delete(tab) || tabs.size > 0) continue;
      // The last tab following it left without unsubscribing (it closed): nobody hears the answer.
      this.topics.delete(key);
      if (this.client.readyState === "OPEN") this.sendAs(null, { type: "unsubscribe", topic, params });
    }
  }

  // --- follower -----------------------------------------------------------------------

  /** A WebSocket-shaped connection through the leading tab. */
  relaySocket(answerTimeoutMs) {
    if (this.relay) this.relay.finish(1000, "replaced");
    this.relay = new TabRelaySocket(this, answerTimeoutMs);
    return this.relay;
  }
}

/**
 * What a following tab's client uses as its socket. Opens when the leader's connection is
 * open (its hello arrives); closes with the leader's close code, or 1001 when the leader
 * tab went away. `unanswered` is set when no tab answered at all (the leader may hang):
 * the client then opens a connection of its own.
 */
export class TabRelaySocket extends EventTarget {
  constructor(group, answerTimeoutMs) {
    super();
    this.group = group;
    this.readyState = CONNECTING;
    this.leader = null;
    this.transport = null;
    this.unanswered = false;
    this.noAnswer = setTimeout(() => {
      this.unanswered = true;
      this.finish(1006, "no tab holds the connection");
    }, answerTimeoutMs);
    group.post({ kind: "join" });
  }

  receive(message) {
    if (this.readyState === CLOSED) return;
    if (message.kind === "lead") {
      // A new leader: a relay through the old one is over; a waiting one asks again.
      if (this.leader && this.leader !== message.from) this.finish(1001, "another tab took over the connection");
      else this.group.post({ kind: "join" });
      return;
    }
    if (this.leader && message.from !== this.leader && message.kind !== "hello") return;
    clearTimeout(this.noAnswer);
    this.leader = message.from;
    if (message.kind === "hello") {
      this.transport = message.transport;
      if (this.readyState === CONNECTING) {
        this.readyState = OPEN;
        this.dispatchEvent(new Event("open"));
      }
      this.deliver(message.text);
    } else if (message.kind === "frame") {
      this.deliver(message.text);
    } else if (message.kind === "down") {
      this.finish(message.code, message.reason);
    }
  }

  send(text) {
    if (this.readyState !== OPEN) throw new DOMException("The shared connection is not open.", "InvalidStateError");
    this.group.post({ kind: "send", to: this.leader, text });
  }

  close(code = 1000, reason = "") {
    if (this.readyState === CLOSED) return;
    this.group.post({ kind: "leave", to: this.leader || undefined });
    this.finish(code, reason);
  }

  deliver(data) {
    if (this.readyState === OPEN) this.dispatchEvent(new MessageEvent("message", { data }));
  }

  finish(code, reason) {
    clearTimeout(this.noAnswer);
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    if (this.group.relay === this) this.group.relay = null;
    this.dispatchEvent(new CloseEvent("close", { code, reason, wasClean: code !== 1006 }));
  }
}
