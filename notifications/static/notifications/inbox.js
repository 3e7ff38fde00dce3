// Live updates for the server-rendered inbox page: new arrivals appear at the
// top of the first page, and read/unread/delete done in any tab shows here.
// Listens to the events notifications.js emits on `document`. "Delete" waits
// UNDO_MS with an "Undo" in the item's place before it is sent (at once if the
// page is left meanwhile); without JavaScript the form posts at once.

import { text } from "./notifications.js";
import { showTime } from "./times.js";

const inbox = document.querySelector("[data-notifications-inbox]");
const UNDO_MS = 5000;
const pendingDeletes = new Map(); // row -> {timer, send}

function matchesFilters(item) {
  const params = new URLSearchParams(window.location.search);
  if (params.get("level") && params.get("level") !== item.level) return false;
  if (params.get("kind") && params.get("kind") !== item.kind) return false;
  return true;
}

function render(item) {
  const template = inbox.querySelector("[data-notifications-item-template]");
  const row = template.content.firstElementChild.cloneNode(true);
  row.dataset.id = String(item.id);
  row.id = `notification-${item.id}`;
  row.classList.remove("level-info");
  row.classList.add(`level-${item.level}`, "is-unread");
  const title = row.querySelector('[data-field="title"]');
  if (item.url) {
    const link = document.createElement("a");
    link.href = item.url;
    link.textContent = item.title;
    title.replaceChildren(link);
  } else {
    title.textContent = item.title;
  }
  row.querySelector('[data-field="body"]').textContent = item.body;
  showTime(row.querySelector('[data-field="created_at"]'), item.created_at);
  for (const input of row.querySelectorAll('input[name="id"]')) input.value = String(item.id);
  for (const input of row.querySelectorAll('input[name="next"]')) input.value = window.location.pathname + window.location.search;
  return row;
}

function rows() {
  return inbox.querySelectorAll("[data-notifications-list] > [data-id]");
}

if (inbox) {
  document.addEventListener("notifications:notification", (event) => {
    const item = event.detail.notification;
    if (inbox.dataset.firstPage !== "1" || !matchesFilters(item)) return;
    if (inbox.querySelector(`[data-notifications-list] > [data-id="${item.id}"]`)) return;
    inbox.querySelector("[data-notifications-empty]")?.remove();
    // Newest first by id: notifications to different audiences may arrive in either order.
    const older = [...rows()].find((row) => Number(row.dataset.id) < item.id);
    inbox.querySelector("[data-notifications-list]").insertBefore(render(item), older || null);
    const upTo = inbox.querySelector("[data-notifications-up-to]");
    if (upTo && Number(upTo.value) < item.id) upTo.value = String(item.id);
  });

  inbox.addEventListener("submit", (event) => {
    if (event.submitter?.value !== "delete") return;
    event.preventDefault();
    deleteWithUndo(event.target.closest("[data-id]"), event.target);
  });
  window.addEventListener("pagehide", () => {
    for (const { send } of pendingDeletes.values()) send(true);
  });

  document.addEventListener("notifications:read-state", (event) => {
    const frame = event.detail;
    const ids = new Set(frame.ids);
    for (const row of rows()) {
      const id = Number(row.dataset.id);
      if (frame.change === "deleted" && ids.has(id)) row.remove();
      else if (frame.change === "read" && ids.has(id)) row.classList.remove("is-unread");
      else if (frame.change === "unread" && ids.has(id)) row.classList.add("is-unread");
      else if (frame.change === "all_read" && id <= frame.up_to) row.classList.remove("is-unread");
    }
  });
}

function deleteWithUndo(row, form) {
  const body = new FormData(form);
  body.set("action", "delete");
  const url = form.getAttribute("action"); // form.action is the buttons named "action"
  const notice = document.createElement("li");
  notice.className = "inbox__undo";
  notice.setAttribute("role", "status");
  notice.textContent = `${text("deleted")} `;
  const undo = document.createElement("button");
  undo.type = "button";
  undo.textContent = text("undo");
  notice.append(undo);
  row.hidden = true;
  row.before(notice);
  const send = (leaving) => {
    clearTimeout(timer);
    pendingDeletes.delete(row);
    notice.remove();
    if (leaving) navigator.sendBeacon(url, body);
    else fetch(url, { method: "POST", body, credentials: "same-origin" });
  };
  const timer = setTimeout(() => send(false), UNDO_MS);
  pendingDeletes.set(row, { timer, send });
  undo.addEventListener("click", () => {
    clearTimeout(timer);
    pendingDeletes.delete(row);
    notice.remove();
    row.hidden = false;
  });
  undo.focus();
}
