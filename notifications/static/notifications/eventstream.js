// The notifications protocol over Server-Sent Events (or long-polling) and the JSON API,
// shaped like a WebSocket.
//
// NotificationClient uses it where WebSocket connections fail (docs/protocol.md,
// "The same stream over Server-Sent Events"). Server frames arrive on an
// EventSource; what the page sends is answered here: `ping` at once (the
// stream's own keep-alives prove the connection), `mark_read`, `mark_all_read`
// and `sync` through the JSON API, each answer under the request's `ref`. The
// stream opens with a sync of its own from the page's cursor, so a `sync` it is
// already answering (the page's sync after `hello`, and the pages it asks for
// while that one says `more`) is not asked again. `subscribe` and `unsubscribe`
// are posted to `<stream>/send/` naming the stream (its key comes in `hello`); the
// stream answers them. With `pollPath`, it long-polls instead of streaming, for
// proxies that buffer or cut streams: one request per round, from the last cursor
// (topics need a stream: they are answered with an error there).

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

export class EventStreamSocket extends EventTarget {
  constructor(streamUrl, { cursor = null, apiPath, csrfToken, pollPath = null }) {
    super();
    this.streamUrl = streamUrl;
    this.pollPath = pollPath;
    this.apiPath = apiPath;
    this.csrfToken = csrfToken;
    this.readyState = CONNECTING;
    this.open(cursor);
  }

  open(cursor) {
    if (this.pollPath) {
      this.poll(cursor);
      return;
    }
    const url = new URL(this.streamUrl, window.location.href);
    if (cursor) url.searchParams.set("cursor", cursor);
    this.initialSync = true; // the stream's own sync pages are still coming
    this.pagingCursor = cursor; // the cursor of the sync the stream answers next
    const source = new EventSource(url, { withCredentials: true });
    this.source = source;
    source.addEventListener("open", () => {
      if (source !== this.source || this.readyState !== CONNECTING) return;
      this.readyState = OPEN;
      this.dispatchEvent(new Event("open"));
    });
    source.addEventListener("message", (event) => {
      if (source !== this.source) return;
      if (event.data.startsWith('{"type":"hello"')) this.streamKey = JSON.parse(event.data).stream;
      if (this.initialSync && event.data.startsWith('{"type":"sync"')) {
        const page = JSON.parse(event.data);
        if (page.more) this.pagingCursor = page.cursor;
        else queueMicrotask(() => (this.initialSync = false));
      }
      this.deliver(event.data);
    });
    source.addEventListener("close", (event) => {
      if (source !== this.source) return;
      const { code, reason } = JSON.parse(event.data);
      this.finish(code, reason);
    });
    source.addEventListener("error", () => {
      // Refused (401, 429, ...) or cut: the page's client decides when to come back, from its cursor.
      if (source === this.source) this.lost(source);
    });
  }

  // EventSource hides a refusal's status: ask the JSON API whether the person is still signed
  // in, so a signed-out page closes as a socket would (4401: "Sign in again"), not retry forever.
  async lost(source) {
    source.close();
    let status = 0;
    try {
      status = (await fetch(`${this.apiPath}unread-count/`, { credentials: "same-origin" })).status;
    } catch {
      status = 0; // the server is away: an ordinary loss
    }
    if (source !== this.source) return;
    if (status === 401) this.finish(4401, "not signed in");
    else this.finish(1006, "event stream lost");
  }

  send(text) {
    if (this.readyState !== OPEN) throw new DOMException("The stream is not open.", "InvalidStateError");
    const frame = JSON.parse(text);
    switch (frame.type) {
      case "ping":
        this.deliverLater({ type: "pong", ref: frame.ref });
        break;
      case "sync":
        if (!this.answeredByTheStream(frame.cursor)) this.syncOverHttp(frame);
        break;
      case "mark_read":
      case "mark_unread":
        this.changeReadState(frame, frame.type === "mark_read" ? "read" : "unread");
        break;
      case "mark_all_read":
        this.post("read-all/", { up_to: frame.up_to }).then((answer) => this.acknowledge(frame, answer));
        break;
      case "subscribe":
      case "unsubscribe":
        if (!this.pollPath) {
          // Answered on the stream (`subscribed`, or an error with the frame's ref).
          this.request("POST", "", { stream: this.streamKey, frame }, `${new URL(this.streamUrl, window.location.href).pathname}send/`);
          break;
        }
      // falls through: a long-poll round is too short a connection to hold a topic
      default:
        this.deliverLater({
          type: "error",
          code: "unsupported_transport",
          message: `'${frame.type}' is not available over ${this.pollPath ? "long-polling" : "the event stream"}.`,
          ref: frame.ref,
        });
    }
  }

  close(code = 1000, reason = "") {
    if (this.readyState === CLOSED) return;
    this.finish(code, reason);
  }

  // While a long-poll round's frames are handed over, the page's sync is the round's own;
  // on the stream, a sync from the cursor the stream is paging from.
  answeredByTheStream(cursor) {
    if (this.pollPath) return this.deliveringRound === true;
    return this.initialSync && (cursor || null) === (this.pagingCursor || null);
  }

  async syncOverHttp(frame) {
    const query = frame.cursor ? `?${new URLSearchParams({ cursor: frame.cursor })}` : "";
    const answer = await this.request("GET", `sync/${query}`);
    if (answer) this.deliver(JSON.stringify({ ...answer, ref: frame.ref }));
  }

  // Long-polling: each answer carries hello, the sync from the cursor and what came live.
  async poll(cursor) {
    const round = (this.round = (this.round || 0) + 1);
    const url = new URL(this.pollPath, window.location.href);
    if (cursor) url.searchParams.set("cursor", cursor);
    let frames;
    this.lastStatus = 0;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      this.lastStatus = response.status;
      if (!response.ok) throw new Error(`poll answered ${response.status}`);
      frames = (await response.json()).frames;
    } catch {
      if (round === this.round) this.finish(this.lastStatus === 401 ? 4401 : 1006, "long poll failed");
      return;
    }
    if (round !== this.round || this.readyState === CLOSED) return;
    if (this.readyState === CONNECTING) {
      this.readyState = OPEN;
      this.dispatchEvent(new Event("open"));
    }
    let next = cursor;
    this.deliveringRound = true;
    try {
      for (const frame of frames) {
        if (frame.type === "close") return this.finish(frame.code, frame.reason);
        if (frame.type === "sync" && !frame.more && frame.cursor) next = frame.cursor;
        if (frame.type === "notification") next = `1.${Math.max(frame.notification.id, Number(String(next).split(".")[1]) || 0)}`;
        this.deliver(JSON.stringify(frame));
      }
    } finally {
      this.deliveringRound = false;
    }
    if (this.readyState === OPEN) this.poll(next);
  }

  async changeReadState(frame, action) {
    let answer = null;
    for (const id of frame.ids || []) answer = (await this.post(`${id}/${action}/`, {})) || answer;
    this.acknowledge(frame, answer);
  }

  post(path, body) {
    return this.request("POST", path, body);
  }

  async request(method, path, body, url = `${this.apiPath}${path}`) {
    try {
      const response = await fetch(url, {
        method,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": this.csrfToken || "" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const answer = await response.json();
      if (!response.ok) {
        this.deliverLater({ type: "error", code: response.status === 404 ? "not_found" : "unavailable", message: answer.error });
        return null;
      }
      return answer;
    } catch {
      this.deliverLater({ type: "error", code: "unavailable", message: "The server did not answer; retry shortly." });
      return null;
    }
  }

  acknowledge(frame, answer) {
    if (answer) this.deliver(JSON.stringify({ type: "ack", ref: frame.ref, changed: answer.updated, unread_count: answer.unread_count }));
  }

  deliverLater(frame) {
    setTimeout(() => this.deliver(JSON.stringify(frame)), 0);
  }

  deliver(data) {
    if (this.readyState === OPEN) this.dispatchEvent(new MessageEvent("message", { data }));
  }

  finish(code, reason) {
    if (this.source) this.source.close();
    this.round = (this.round || 0) + 1; // a poll in flight is over
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.dispatchEvent(new CloseEvent("close", { code, reason, wasClean: code !== 1006 }));
  }
}
