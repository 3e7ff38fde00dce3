"""What people see, in real Chromium (Debian's, driven by Playwright) against a real Daphne and Redis.

Screenshots of the bell, the inbox and the connection page are saved to
``screenshots/`` (ignored by git) for a person to look at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.test import override_settings

from notifications import notify, services
from notifications.testing import DaphneServer, RedisServer, session_cookie
from tests import REPO_DIR
from tests.conftest import start_daphne

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO_DIR / "screenshots"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"No Chromium at {CHROMIUM}: apt-get install chromium (make test does it).")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the
    # tests make between browser steps are ordinary synchronous ones.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    launched = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )
    SCREENSHOTS.mkdir(exist_ok=True)
    yield launched
    launched.close()
    playwright.stop()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


class Tab:
    """A page that records console errors, dialogs and the WebSockets it opens."""

    def __init__(self, context: object, server: DaphneServer) -> None:
        self.page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.server = server
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.sockets: list[object] = []
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", self._dialog)
        self.page.on("websocket", lambda socket: self.sockets.append(socket))

    def _dialog(self, dialog: object) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, path: str) -> Tab:
        self.page.goto(self.server.origin + path)
        return self

    def wait_connected(self) -> Tab:
        self.page.wait_for_selector('[data-notifications-bell][data-state="open"]')
        return self

    def count(self) -> str:
        return self.page.locator("[data-notifications-bell] [data-notifications-count]").text_content()

    def wait_count(self, value: int) -> None:
        self.page.wait_for_function(
            "n => document.querySelector('[data-notifications-bell] [data-notifications-count]').textContent === n",
            arg=str(value),
        )


def signed_in_context(browser: object, server: DaphneServer, user: object) -> object:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    name, value = session_cookie(user).split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": server.origin}])
    return context


def test_a_notification_sent_from_outside_appears_without_reload(browser, daphne, alice) -> None:
    context = signed_in_context(browser, daphne, alice)
    tab = Tab(context, daphne).open("/").wait_connected()
    assert tab.count() == "0"
    result = daphne.manage("notify", "--user", "alice", "--title", "Build finished", "--level", "success")
    assert result.returncode == 0, result.stderr
    tab.wait_count(1)
    toast = tab.page.locator(".ntoast", has_text="Build finished")
    toast.wait_for()
    assert tab.page.title().startswith("(1) ")
    assert tab.page.locator("[data-notifications-toasts]").get_attribute("aria-live") == "polite"
    tab.page.click("[data-notifications-toggle]")
    tab.page.locator(".nbell__item", has_text="Build finished").wait_for()
    tab.page.screenshot(path=str(SCREENSHOTS / "bell.png"))
    assert tab.errors == []
    context.close()


def test_marking_read_in_one_tab_updates_the_other(browser, daphne, alice) -> None:
    first = notify(alice, title="Read me in tab one")
    notify(alice, title="Still unread")
    context = signed_in_context(browser, daphne, alice)
    one = Tab(context, daphne).open("/").wait_connected()
    two = Tab(context, daphne).open("/notifications/").wait_connected()
    assert two.count() == "2"
    one.page.click("[data-notifications-toggle]")
    one.page.locator(".nbell__item", has_text="Read me in tab one").click()
    two.wait_count(1)
    # The inbox page in tab two shows the item read, without a reload.
    two.page.wait_for_selector(f'.inbox__item[data-id="{first.pk}"]:not(.is-unread)')
    two.page.screenshot(path=str(SCREENSHOTS / "inbox.png"), full_page=True)
    assert one.errors == two.errors == []
    context.close()


@pytest.fixture
def own_stack() -> Iterator[tuple[RedisServer, DaphneServer]]:
    redis = RedisServer.private()
    server = start_daphne(redis)
    with override_settings(CHANNEL_LAYERS=redis.channel_layers()):
        yield redis, server
    server.stop()
    redis.close()


TOAST_RECORDER = """
// Toasts dismiss themselves after a few seconds: record every one shown.
window.__toasts = [];
new MutationObserver((records) => {
  for (const record of records) for (const node of record.addedNodes) {
    if (node.classList && node.classList.contains("ntoast")) {
      window.__toasts.push(node.querySelector("strong").textContent);
    }
  }
}).observe(document, { childList: true, subtree: true });
"""


def test_the_page_reconnects_after_a_restart_and_shows_what_it_missed_once(browser, own_stack, alice) -> None:
    _redis, server = own_stack
    context = signed_in_context(browser, server, alice)
    context.add_init_script(TOAST_RECORDER)
    tab = Tab(context, server).open("/").wait_connected()
    # A second tab of the same browser, on the first tab's connection (tabs.js).
    other = Tab(context, server).open("/notifications/").wait_connected()
    assert other.page.get_attribute("[data-notifications-bell]", "data-connection") == "follower"
    server.stop()
    for each in (tab, other):
        each.page.wait_for_selector('[data-notifications-bell][data-state="closed"]')
        assert each.page.locator("[data-notifications-status]").text_content() == "reconnecting…"
    notify(alice, title="Sent while the server was down")
    server.resume()
    tab.page.wait_for_selector('[data-notifications-bell][data-state="open"]', timeout=45_000)
    tab.wait_count(1)
    # The tab that follows is live again as soon as the connection is back, and shows it once too.
    other.page.wait_for_selector('[data-notifications-bell][data-state="open"]', timeout=15_000)
    other.wait_count(1)
    other.page.locator(".ntoast", has_text="Sent while the server was down").wait_for()
    assert other.page.evaluate("window.__toasts") == ["Sent while the server was down"]
    assert other.errors == []
    tab.page.click("[data-notifications-toggle]")
    tab.page.locator(".nbell__item", has_text="Sent while the server was down").wait_for()
    assert tab.page.locator(".nbell__item", has_text="Sent while the server was down").count() == 1
    assert tab.page.evaluate("window.__toasts") == ["Sent while the server was down"]
    # The only errors are Chromium's reports of the refused reconnects while the server was down
    # (and of the client's HTTP probe, which found the server away, so it did not fall back).
    refused = ("WebSocket connection to", "net::ERR_CONNECTION_REFUSED")
    assert [e for e in tab.errors if not any(r in e for r in refused)] == []
    assert tab.page.get_attribute("[data-notifications-bell]", "data-transport") is None  # still the WebSocket
    context.close()


def test_a_notification_sent_between_render_and_connect_is_shown_as_new(browser, daphne, alice) -> None:
    notify(alice, title="There when the page rendered")
    context = signed_in_context(browser, daphne, alice)
    context.add_init_script(TOAST_RECORDER)
    tab = Tab(context, daphne)

    def send_then_connect(route: object) -> None:
        notify(alice, title="Sent before the socket opened")
        route.connect_to_server()

    tab.page.route_web_socket(re.compile(r"/ws/notifications/$"), send_then_connect)
    tab.open("/").wait_connected()
    tab.wait_count(2)
    tab.page.locator(".ntoast", has_text="Sent before the socket opened").wait_for()
    tab.page.click("[data-notifications-toggle]")
    tab.page.locator(".nbell__item", has_text="There when the page rendered").wait_for()
    assert tab.page.locator(".nbell__item").count() == 2
    assert tab.page.evaluate("window.__toasts") == ["Sent before the socket opened"]
    assert tab.errors == []
    context.close()


def test_a_retracted_notification_leaves_the_bell_dropdown_and_inbox_live(browser, daphne, alice, bob) -> None:
    kept = notify(alice, title="Kept")
    retracted = notify([alice, bob], title="Sent by mistake")
    context = signed_in_context(browser, daphne, alice)
    tab = Tab(context, daphne).open("/notifications/").wait_connected()
    tab.page.wait_for_selector(f'.inbox__item[data-id="{retracted.pk}"]')
    tab.page.locator("[data-notifications-dropdown] [data-id]", has_text="Sent by mistake").wait_for(state="attached")
    tab.wait_count(2)
    services.retract(retracted)
    tab.page.wait_for_selector(f'.inbox__item[data-id="{retracted.pk}"]', state="detached")
    tab.page.wait_for_selector(f'[data-notifications-dropdown] [data-id="{retracted.pk}"]', state="detached")
    tab.wait_count(1)
    assert tab.page.locator(f'.inbox__item[data-id="{kept.pk}"]').count() == 1
    assert tab.errors == []
    context.close()


def test_markup_in_a_notification_is_shown_as_text(browser, daphne, alice) -> None:
    context = signed_in_context(browser, daphne, alice)
    tab = Tab(context, daphne).open("/").wait_connected()
    title = "<img src=x onerror=alert(1)>"
    notify(alice, title=title, body="<script>alert(2)</script>")
    tab.page.locator(".ntoast strong").filter(has_text="<img").wait_for()
    assert tab.page.locator(".ntoast strong").first.text_content() == title
    assert tab.page.locator(".ntoast img").count() == 0
    tab.open("/notifications/")
    assert tab.page.locator(".inbox__title").first.text_content().strip() == title
    assert tab.dialogs == []
    assert tab.errors == []
    context.close()


def test_anonymous_pages_open_no_socket_and_4401_stops_reconnecting(browser, daphne, alice) -> None:
    anonymous = browser.new_context()
    tab = Tab(anonymous, daphne).open("/")
    tab.page.wait_for_load_state("load")
    assert tab.sockets == []
    anonymous.close()

    context = signed_in_context(browser, daphne, alice)
    tab = Tab(context, daphne).open("/").wait_connected()
    Session.objects.all().delete()  # signed out elsewhere: the open socket is closed with 4401 at once
    tab.page.wait_for_selector('[data-notifications-bell][data-state="signed-out"]')
    assert tab.page.locator("[data-notifications-signin]").is_visible() is False  # inside the closed dropdown
    tab.page.click("[data-notifications-toggle]")
    assert tab.page.locator("[data-notifications-signin] a").is_visible()
    opened = len(tab.sockets)
    tab.page.wait_for_timeout(2000)  # several backoff periods: a reconnect loop would have opened more
    # The first socket, and one retry (a password change moves a login to a new session key).
    assert len(tab.sockets) == opened == 2
    assert tab.errors == []
    context.close()


def test_connection_page_shows_state_handshake_and_heartbeat(browser, daphne, alice) -> None:
    context = signed_in_context(browser, daphne, alice)
    tab = Tab(context, daphne).open("/notifications/live/")
    tab.page.wait_for_selector('[data-live-state][data-state="OPEN"]')
    tab.page.wait_for_function("document.querySelector('[data-live-check]').textContent.includes('✓')")
    request = tab.page.locator("[data-live-request]").text_content()
    assert "Upgrade: websocket" in request
    assert "Sec-WebSocket-Version: 13" in request
    assert "Sec-WebSocket-Accept:" in tab.page.locator("[data-live-response]").text_content()
    tab.page.click("[data-live-ping]")
    tab.page.locator(".live__stream li.kind-heartbeat.is-out").first.wait_for()
    tab.page.locator(".live__stream li.kind-heartbeat.is-in").first.wait_for()
    tab.page.screenshot(path=str(SCREENSHOTS / "live.png"), full_page=True)
    tab.page.click("[data-live-close]")
    tab.page.wait_for_selector('[data-live-state][data-state="CLOSED"]')
    assert "1000 normal closure" in tab.page.locator("[data-live-log]").text_content()
    # The page closed it: said so in the stream, and the bell says "closed" (not "reconnecting…").
    closing = tab.page.locator(".live__stream li", has_text='"close"').first
    assert "↑ client" in closing.text_content()
    tab.page.wait_for_selector('[data-notifications-bell][data-state="closed"]')
    assert tab.page.locator("[data-notifications-status]").text_content() == "closed"
    tab.page.click("[data-notifications-reconnect]")  # the bell's own way back
    tab.page.wait_for_selector('[data-live-state][data-state="OPEN"]')
    assert tab.page.locator("[data-notifications-reconnect]").is_hidden()
    tab.page.click("[data-live-close]")
    tab.page.wait_for_selector('[data-live-state][data-state="CLOSED"]')
    tab.page.click("[data-live-reconnect]")
    tab.page.wait_for_selector('[data-live-state][data-state="OPEN"]')
    assert tab.errors == []
    context.close()


DESKTOP_STUB = """
// The tab is hidden, and the Notification API records what it is asked to show.
Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
window.__desktop = [];
class RecordingNotification extends EventTarget {
  static permission = "default";
  static async requestPermission() { RecordingNotification.permission = "granted"; return "granted"; }
  constructor(title, options) { super(); window.__desktop.push({ title, body: options.body }); }
}
window.Notification = RecordingNotification;
"""


def test_desktop_notifications_only_after_the_person_turns_them_on(browser, daphne, alice) -> None:
    context = signed_in_context(browser, daphne, alice)
    context.add_init_script(DESKTOP_STUB)
    tab = Tab(context, daphne).open("/").wait_connected()
    notify(alice, title="Before opting in")
    # Shown, not just counted: the hello's count may include it before its frame arrives,
    # and a frame arriving after the opt-in would rightly go to the desktop.
    tab.page.locator("[data-notifications-dropdown] [data-id]", has_text="Before opting in").wait_for(state="attached")
    tab.wait_count(1)
    assert tab.page.evaluate("window.__desktop") == []
    tab.page.click("[data-notifications-toggle]")
    tab.page.click("[data-notifications-desktop]")
    tab.page.wait_for_selector("[data-notifications-desktop]", state="hidden")
    notify(alice, title="After opting in", body="shown on the desktop")
    tab.wait_count(2)
    assert tab.page.evaluate("window.__desktop") == [{"title": "After opting in", "body": "shown on the desktop"}]
    assert tab.errors == []
    context.close()


def test_presence_page_shows_who_is_here_live(browser, daphne, alice, bob) -> None:
    alice_context = signed_in_context(browser, daphne, alice)
    bob_context = signed_in_context(browser, daphne, bob)
    mine = Tab(alice_context, daphne).open("/presence/lobby/")
    mine.page.wait_for_selector('[data-presence-people] [data-user-id]:has-text("alice")')
    theirs = Tab(bob_context, daphne).open("/presence/lobby/")
    mine.page.wait_for_selector('[data-presence-people] li:has-text("bob")')
    theirs.page.wait_for_selector('[data-presence-people] li:has-text("alice")')
    mine.page.screenshot(path=str(SCREENSHOTS / "presence.png"))
    theirs.page.close()
    mine.page.wait_for_selector('[data-presence-people] li:has-text("bob")', state="detached")
    assert mine.page.locator("[data-presence-log]").text_content().count("bob joined") == 1
    assert mine.errors == []
    alice_context.close()
    bob_context.close()
