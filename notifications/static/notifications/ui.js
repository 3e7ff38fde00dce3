// The drop-in UI on every page: the bell with its count and dropdown, toasts
// for arrivals, the count in the document title, and desktop notifications
// (only after the person turned them on). Built on the shared client; every
// string from the server is set with textContent.

import { client, text } from "./notifications.js";
import { showTime } from "./times.js";

const DROPDOWN_SIZE = 8;
const TOAST_MS = 6000;
const DESKTOP_KEY = "notifications:desktop";

const bell = document.querySelector("[data-notifications-bell]");
const baseTitle = document.title.replace(/^\(\d+\) /, "");

function setTitle(count) {
  document.title = count ? `(${count}) ${baseTitle}` : baseTitle;
}

function setCount(count) {
  for (const element of document.querySelectorAll("[data-notifications-count]")) {
    element.textContent = String(count);
    element.classList.toggle("is-zero", !count);
  }
  setTitle(count);
}

function setStatus(text) {
  bell.querySelector("[data-notifications-status]").textContent = text;
}

function safeUrl(url) {
  // The server only stores relative and http(s) URLs; check again before use.
  if (!url) return null;
  try {
    const parsed = new URL(url, window.location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function dropdownItem(item) {
  const template = document.querySelector("[data-notifications-dropdown-item]");
  const row = template.content.firstElementChild.cloneNode(true);
  row.dataset.id = String(item.id);
  row.classList.add(`level-${item.level}`);
  row.classList.toggle("is-unread", !item.read);
  row.querySelector(".nbell__title").textContent = item.title;
  row.querySelector(".nbell__body").textContent = item.body;
  showTime(row.querySelector(".nbell__time"), item.created_at);
  const link = row.querySelector("a");
  link.href = safeUrl(item.url) || "#";
  link.addEventListener("click", (event) => {
    if (!item.read) client.markRead([item.id]);
    item.read = true;
    row.classList.remove("is-unread");
    if (link.getAttribute("href") === "#") event.preventDefault();
  });
  return row;
}

function addToDropdown(items) {
  const list = bell.querySelector("[data-notifications-dropdown]");
  for (const item of items) {
    if (list.querySelector(`[data-id="${item.id}"]`)) continue;
    const row = dropdownItem(item);
    const newer = [...list.querySelectorAll("[data-id]")].find((el) => Number(el.dataset.id) < item.id);
    list.insertBefore(row, newer || null);
  }
  const rows = list.querySelectorAll("[data-id]");
  for (const extra of [...rows].slice(DROPDOWN_SIZE)) extra.remove();
  bell.querySelector("[data-notifications-dropdown-empty]").hidden = rows.length > 0;
}

function toast(item) {
  const region = document.querySelector("[data-notifications-toasts]");
  const box = document.createElement("div");
  box.className = `ntoast level-${item.level}`;
  box.setAttribute("role", "status");
  box.dataset.id = String(item.id);
  const title = document.createElement("strong");
  title.textContent = item.title;
  const body = document.createElement("p");
  body.textContent = item.body;
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "ntoast__close";
  dismiss.setAttribute("aria-label", text("dismiss"));
  dismiss.textContent = "×";
  dismiss.addEventListener("click", () => box.remove());
  box.append(title, body, dismiss);
  region.append(box);
  // Long content is cut after a few lines (notifications.css): "more" leads to all of it.
  if (title.scrollHeight > title.clientHeight + 1 || body.scrollHeight > body.clientHeight + 1) {
    const more = document.createElement("a");
    more.className = "ntoast__more";
    more.textContent = text("more");
    const inbox = bell.querySelector(".nbell__foot a");
    more.href = safeUrl(item.url) || `${inbox ? inbox.href : ""}#notification-${item.id}`;
    box.append(more);
  }
  setTimeout(() => box.remove(), TOAST_MS);
}

function desktopEnabled() {
  return "Notification" in window && Notification.permission === "granted" && localStorage.getItem(DESKTOP_KEY) === "on";
}

function desktop(item) {
  if (!document.hidden || !desktopEnabled()) return;
  const shown = new Notification(item.title, { body: item.body, tag: `notification-${item.id}` });
  shown.addEventListener("click", () => {
    window.focus();
    const url = safeUrl(item.url);
    if (url) window.location.href = url;
  });
}

function bindDesktopButton() {
  const button = bell.querySelector("[data-notifications-desktop]");
  if (!("Notification" in window) || desktopEnabled()) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const permission = await Notification.requestPermission();
    if (permission === "granted") {
      localStorage.setItem(DESKTOP_KEY, "on");
      button.hidden = true;
    } else {
      button.textContent = text("desktopBlocked");
      button.disabled = true;
    }
  });
}

function bindPanel() {
  const toggle = bell.querySelector("[data-notifications-toggle]");
  const panel = bell.querySelector("[data-notifications-panel]");
  const setOpen = (open) => {
    // On a phone the panel is a sheet across the screen (notifications.css), just below the bell.
    panel.style.top = open && window.matchMedia("(max-width: 480px)").matches ? `${toggle.getBoundingClientRect().bottom + 6}px` : "";
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
  };
  toggle.addEventListener("click", (event) => {
    const opening = panel.hidden;
    setOpen(opening);
    // From the keyboard (a click with no pointer position), focus moves into the panel.
    if (opening && event.detail === 0) panel.querySelector("a[href], button:not([hidden])")?.focus();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || panel.hidden) return;
    const inside = panel.contains(document.activeElement);
    setOpen(false);
    if (inside) toggle.focus(); // back where the person was
  });
  document.addEventListener("click", (event) => {
    if (!bell.contains(event.target)) setOpen(false);
  });
  bell.querySelector("[data-notifications-mark-all]").addEventListener("click", () => client.markAllRead());
}

function applyReadState(frame) {
  const ids = new Set(frame.ids);
  for (const row of bell.querySelectorAll("[data-notifications-dropdown] [data-id]")) {
    const id = Number(row.dataset.id);
    if (frame.change === "deleted" && ids.has(id)) row.remove();
    else if (frame.change === "read" && ids.has(id)) row.classList.remove("is-unread");
    else if (frame.change === "unread" && ids.has(id)) row.classList.add("is-unread");
    else if (frame.change === "all_read" && id <= frame.up_to) row.classList.remove("is-unread");
  }
}

if (bell && client) {
  bindPanel();
  bindDesktopButton();
  setTitle(Number(bell.querySelector("[data-notifications-count]").textContent) || 0);
  client.addEventListener("notifications:count", (event) => setCount(event.detail.unreadCount));
  client.addEventListener("notifications:reset", (event) => addToDropdown(event.detail.notifications));
  client.addEventListener("notifications:notification", (event) => {
    const item = event.detail.notification;
    addToDropdown([item]);
    if (!item.read) {
      toast(item);
      desktop(item);
    }
  });
  client.addEventListener("notifications:read-state", (event) => applyReadState(event.detail));
  client.addEventListener("notifications:role", (event) => {
    bell.dataset.connection = event.detail.role; // own, leader (shared with other tabs) or follower
  });
  client.addEventListener("notifications:transport", (event) => {
    bell.dataset.transport = event.detail.transport; // the event stream, where WebSockets are blocked
  });
  const reconnect = bell.querySelector("[data-notifications-reconnect]");
  reconnect.addEventListener("click", () => client.reconnect());
  client.addEventListener("notifications:state", (event) => {
    const { state, code, final, byPage } = event.detail;
    bell.dataset.state = final ? "signed-out" : byPage ? "closed" : state.toLowerCase();
    bell.querySelector("[data-notifications-signin]").hidden = !(final && code === 4401);
    reconnect.hidden = !byPage || state !== "CLOSED";
    if (state === "OPEN") setStatus("");
    else if (byPage) setStatus(text("closed"));
    else if (final) setStatus(text(code === 4401 ? "signedOut" : "disconnected"));
    else if (state === "CLOSED") setStatus(text("reconnecting"));
    else if (state === "CONNECTING" && client.attempt > 0) setStatus(text("reconnecting"));
  });
}
