// The connection page: ready state, the opening handshake, every frame, and
// the event log with close codes. Built on the page's shared client.

import { CLOSE_CODES, client } from "./notifications.js";

const page = document.querySelector("[data-live]");
const MAX_ROWS = 200;

function time() {
  return new Date().toLocaleTimeString([], { hour12: false });
}

function append(list, parts, className) {
  const row = document.createElement("li");
  if (className) row.className = className;
  for (const [text, cls] of parts) {
    const span = document.createElement("span");
    span.textContent = text;
    if (cls) span.className = cls;
    row.append(span);
  }
  list.prepend(row);
  while (list.children.length > MAX_ROWS) list.lastElementChild.remove();
}

function kindOf(frame) {
  if (frame.type === "ping" || frame.type === "pong") return "heartbeat";
  if (frame.type === "close") return "close";
  return "JSON text";
}

// One line, with a space after each separator, so a long frame wraps between tokens.
function readable(frame) {
  return JSON.stringify(frame, null, 1).replace(/\n\s*/g, " ");
}

function stream(direction, frame) {
  const list = page.querySelector("[data-live-stream]");
  append(
    list,
    [
      [time(), "live__time"],
      [direction === "in" ? "↓ server" : "↑ client", "live__dir"],
      [kindOf(frame), "live__kind"],
      [readable(frame), "live__frame"],
    ],
    `is-${direction} kind-${kindOf(frame) === "heartbeat" ? "heartbeat" : "json"}`,
  );
}

function log(event, text) {
  append(page.querySelector("[data-live-log]"), [[time(), "live__time"], [event, "live__event"], [text, ""]]);
}

function showHandshake(frame) {
  const request = frame.request;
  page.querySelector("[data-live-request]").textContent = [
    `GET ${new URL(client.url).pathname} HTTP/1.1`,
    `Host: ${request.host}`,
    `Origin: ${request.origin}`,
    `Upgrade: ${request.upgrade}`,
    `Connection: ${request.connection}`,
    `Sec-WebSocket-Key: ${request["sec-websocket-key"]}`,
    `Sec-WebSocket-Version: ${request["sec-websocket-version"]}`,
  ].join("\n");
  page.querySelector("[data-live-response]").textContent = [
    "HTTP/1.1 101 Switching Protocols",
    `Upgrade: ${frame.response.upgrade}`,
    `Connection: ${frame.response.connection}`,
    `Sec-WebSocket-Accept: ${frame.response["sec-websocket-accept"]}`,
  ].join("\n");
  verifyAccept(request["sec-websocket-key"], frame.guid, frame.response["sec-websocket-accept"]);
}

async function verifyAccept(key, guid, accept) {
  const check = page.querySelector("[data-live-check]");
  if (!crypto.subtle) return;
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(key + guid));
  const computed = btoa(String.fromCharCode(...new Uint8Array(digest)));
  check.textContent = computed === accept ? `Checked in this browser: ${computed} ✓` : `Mismatch: ${computed}`;
}

if (page && client) {
  const stateElement = page.querySelector("[data-live-state]");
  page.querySelector("[data-live-url]").textContent = client.url.href;
  const showState = () => {
    stateElement.textContent = client.readyState;
    stateElement.dataset.state = client.readyState;
  };
  client.addEventListener("notifications:state", showState);
  client.addEventListener("notifications:transport", (event) => {
    const { transport, reason } = event.detail;
    const names = { websocket: "WebSocket", eventstream: "Server-Sent Events", longpoll: "Long polling" };
    page.querySelector("[data-live-transport]").textContent = names[transport];
    page.querySelector("[data-live-transport-why]").textContent = reason;
    const path = transport === "longpoll" ? client.options.pollPath : client.options.streamPath;
    page.querySelector("[data-live-url]").textContent = new URL(path, window.location.href).href;
    log("transport", `now on ${transport}: ${reason}`);
  });
  client.addEventListener("notifications:open", () => {
    log("open", "connected");
    client.send({ type: "handshake" });
    client.ping();
  });
  client.addEventListener("notifications:message", (event) => {
    const frame = event.detail.frame;
    stream("in", frame);
    log("message", frame.type);
    if (frame.type === "handshake") showHandshake(frame);
  });
  client.addEventListener("notifications:sent", (event) => stream("out", event.detail.frame));
  client.addEventListener("notifications:error", (event) => {
    log("error", event.detail.message || "the connection reported an error");
  });
  client.addEventListener("notifications:close", (event) => {
    const { code, reason, meaning, byPage } = event.detail;
    stream(byPage ? "out" : "in", { type: "close", code, reason });
    log("close", `${code} ${meaning || CLOSE_CODES[code] || ""}${reason ? ` (“${reason}”)` : ""}`);
  });
  page.querySelector("[data-live-close]").addEventListener("click", () => {
    client.close(1000, "closed from the connection page");
    showState();
  });
  page.querySelector("[data-live-reconnect]").addEventListener("click", () => client.reconnect());
  page.querySelector("[data-live-ping]").addEventListener("click", () => client.ping());
  setInterval(showState, 250); // CLOSING lasts only a moment; sample it
  showState();
}
