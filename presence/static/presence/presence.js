// The presence demo page: subscribe to the room's topic on the page's one socket.
import { client } from "../notifications/notifications.js";

const root = document.querySelector("[data-presence]");
const params = JSON.parse(document.getElementById("presence-params").textContent);
const people = new Map();

function render() {
  const list = root.querySelector("[data-presence-people]");
  list.replaceChildren(
    ...[...people.values()]
      .sort((a, b) => a.username.localeCompare(b.username))
      .map((user) => {
        const item = document.createElement("li");
        item.dataset.userId = String(user.id);
        item.dataset.initial = user.username.slice(0, 1);
        item.textContent = user.username;
        return item;
      }),
  );
  root.querySelector("[data-presence-status]").textContent = `${people.size} here now`;
}

function log(text) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  root.querySelector("[data-presence-log]").prepend(item);
}

if (root && client) {
  client.subscribe("presence.room", params, (data) => {
    if (data.event === "snapshot") {
      people.clear();
      for (const user of data.users) people.set(user.id, user);
    } else if (data.event === "join") {
      people.set(data.user.id, data.user);
      log(`${data.user.username} joined`);
    } else if (data.event === "leave") {
      people.delete(data.user.id);
      log(`${data.user.username} left`);
    }
    render();
  });
  client.addEventListener("notifications:error", (event) => {
    if (event.detail.code === "forbidden") {
      root.querySelector("[data-presence-status]").textContent = "This room is for staff only.";
    }
  });
}
