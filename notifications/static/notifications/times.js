// One way to show a notification's time, wherever it appears: every <time datetime>
// marked data-notifications-time (server-rendered or inserted live) reads in the
// viewer's time zone and language, relative while recent ("3 minutes ago", kept
// fresh), a date beyond a day, and the full date and time on hover.

const REFRESH_MS = 30000;
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** How a time reads now: "now", "3 minutes ago", "2 hours ago", then "Dec 2, 2026, 4:56 AM". */
export function describe(date, now = Date.now()) {
  const seconds = Math.round((date.getTime() - now) / 1000);
  const distance = Math.abs(seconds);
  if (distance < 45) return relative.format(0, "second");
  if (distance < 3600) return relative.format(Math.round(seconds / 60), "minute");
  if (distance < 86400) return relative.format(Math.round(seconds / 3600), "hour");
  return absolute.format(date);
}

function render(element) {
  const date = new Date(element.dateTime);
  if (Number.isNaN(date.getTime())) return;
  element.textContent = describe(date);
  element.title = full.format(date);
}

/** Show the ISO 8601 time `iso` in `element` (a <time>), and keep it fresh. */
export function showTime(element, iso) {
  element.dateTime = iso;
  element.dataset.notificationsTime = "";
  render(element);
}

function renderAll() {
  for (const element of document.querySelectorAll("time[data-notifications-time]")) render(element);
}

renderAll();
setInterval(renderAll, REFRESH_MS);
