"""Where WebSockets are blocked, the page goes live over the event stream by itself (real Chromium, Daphne, Redis)."""

from __future__ import annotations

import re

import pytest
from django.contrib.sessions.models import Session

from notifications import notify
from tests.test_browser import TOAST_RECORDER, Tab, browser, own_stack, signed_in_context  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)

SOCKET = re.compile(r"/ws/notifications/$")


def blocked_tab(context: object, server: object, on_attempt=None) -> Tab:
    """A tab whose WebSocket upgrades are refused, as a proxy that blocks them would."""
    tab = Tab(context, server)

    def refuse(route: object) -> None:
        if on_attempt is not None:
            on_attempt()
        route.close()

    tab.page.route_web_socket(SOCKET, refuse)
    return tab


def wait_on_event_stream(tab: Tab) -> None:
    tab.page.wait_for_selector('[data-notifications-bell][data-transport="eventstream"][data-state="open"]')


def test_blocked_websockets_fall_back_to_the_event_stream_and_lose_nothing(browser, daphne, alice) -> None:  # noqa: F811
    context = signed_in_context(browser, daphne, alice)
    context.add_init_script(TOAST_RECORDER)
    attempts = []

    def send_while_switching() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            notify(alice, title="Sent while the page was switching")

    one = blocked_tab(context, daphne, send_while_switching).open("/")
    wait_on_event_stream(one)
    one.wait_count(1)
    two = blocked_tab(context, daphne).open("/notifications/")
    wait_on_event_stream(two)

    result = daphne.manage("notify", "--user", "alice", "--title", "Sent over the fallback")
    assert result.returncode == 0, result.stderr
    one.wait_count(2)
    two.wait_count(2)
    one.page.locator(".ntoast", has_text="Sent over the fallback").wait_for()
    assert sorted(one.page.evaluate("window.__toasts")) == [
        "Sent over the fallback",
        "Sent while the page was switching",
    ]

    # Marking read in one tab reaches the other over its event stream.
    one.page.click("[data-notifications-toggle]")
    one.page.locator(".nbell__item", has_text="Sent over the fallback").click()
    two.wait_count(1)
    one.wait_count(1)

    # The connection page says which transport it uses and why.
    three = blocked_tab(context, daphne).open("/notifications/live/")
    three.page.wait_for_function("document.querySelector('[data-live-transport]').textContent === 'Server-Sent Events'")
    assert "failed while the server answered HTTP" in three.page.text_content("[data-live-transport-why]")
    assert one.errors == two.errors == []
    context.close()


def test_where_streams_are_cut_too_the_page_long_polls(browser, daphne, alice) -> None:  # noqa: F811
    context = signed_in_context(browser, daphne, alice)
    tab = blocked_tab(context, daphne)
    # A proxy that ends every streaming response at once, before its first event.
    tab.page.route(
        "**/notifications/stream/**", lambda route: route.fulfill(status=200, body="", content_type="text/event-stream")
    )
    tab.open("/notifications/live/")
    tab.page.wait_for_selector('[data-notifications-bell][data-transport="longpoll"][data-state="open"]')
    tab.page.wait_for_function("document.querySelector('[data-live-transport]').textContent === 'Long polling'")
    result = daphne.manage("notify", "--user", "alice", "--title", "Sent to a long-polling page")
    assert result.returncode == 0, result.stderr
    tab.wait_count(1)
    tab.page.locator(".ntoast", has_text="Sent to a long-polling page").wait_for()
    assert tab.errors == []
    context.close()


def test_on_the_event_stream_a_killed_server_s_notifications_arrive_once_after_it_is_back(
    browser,  # noqa: F811
    own_stack,  # noqa: F811
    alice,
) -> None:
    _redis, server = own_stack
    context = signed_in_context(browser, server, alice)
    context.add_init_script(TOAST_RECORDER)
    tab = blocked_tab(context, server).open("/")
    wait_on_event_stream(tab)
    server.stop(kill=True)
    tab.page.wait_for_selector('[data-notifications-bell][data-state="closed"]')
    notify(alice, title="Sent while the server was dead")
    server.resume()
    tab.page.wait_for_selector('[data-notifications-bell][data-state="open"]', timeout=45_000)
    tab.wait_count(1)
    tab.page.locator(".ntoast", has_text="Sent while the server was dead").wait_for()
    assert tab.page.evaluate("window.__toasts") == ["Sent while the server was dead"]
    # Still on the event stream (a dead server answers no HTTP either, so it never fell further back).
    assert tab.page.get_attribute("[data-notifications-bell]", "data-transport") == "eventstream"
    # The only errors: Chromium's reports of the cut stream and of the refused reconnects.
    refused = ("net::ERR_INCOMPLETE_CHUNKED_ENCODING", "net::ERR_CONNECTION_REFUSED", "WebSocket connection to")
    assert [e for e in tab.errors if not any(r in e for r in refused)] == []
    context.close()


def test_topics_work_over_the_event_stream(browser, daphne, alice, bob) -> None:  # noqa: F811
    mine = signed_in_context(browser, daphne, alice)
    tab = blocked_tab(mine, daphne).open("/presence/lobby/")
    wait_on_event_stream(tab)
    tab.page.wait_for_selector('[data-presence-people] li:has-text("alice")')  # its own snapshot
    theirs = signed_in_context(browser, daphne, bob)
    other = Tab(theirs, daphne).open("/presence/lobby/")
    tab.page.wait_for_selector('[data-presence-people] li:has-text("bob")')
    other.page.wait_for_selector('[data-presence-people] li:has-text("alice")')
    mine.close()  # the stream ends: alice leaves the room
    other.page.wait_for_selector('[data-presence-people] li:has-text("alice")', state="detached")
    assert tab.errors == []
    theirs.close()


def test_a_page_signed_out_while_on_the_event_stream_offers_to_sign_in_again(browser, daphne, alice) -> None:  # noqa: F811
    context = signed_in_context(browser, daphne, alice)
    tab = blocked_tab(context, daphne).open("/")
    wait_on_event_stream(tab)
    streams = []
    tab.page.on("request", lambda request: streams.append(1) if "/notifications/stream/" in request.url else None)
    Session.objects.all().delete()  # signed out elsewhere: the stream ends with 4401, its one retry is refused
    tab.page.wait_for_selector('[data-notifications-bell][data-state="signed-out"]')
    tab.page.click("[data-notifications-toggle]")
    assert tab.page.locator("[data-notifications-signin] a").is_visible()
    tried = len(streams)
    tab.page.wait_for_timeout(2000)  # several backoff periods: a retry loop would have opened more
    assert len(streams) == tried == 1
    context.close()


CLIENT = "new URL('notifications.js', document.querySelector('script[src$=\"ui.js\"]').src).href"


def test_the_page_goes_back_to_websockets_when_they_work_again(browser, daphne, alice) -> None:  # noqa: F811
    context = signed_in_context(browser, daphne, alice)
    tab = Tab(context, daphne)
    blocked = True

    def refuse_while_blocked(route: object) -> None:
        if blocked:
            route.close()
        else:
            route.connect_to_server()

    tab.page.route_web_socket(SOCKET, refuse_while_blocked)
    tab.open("/")
    wait_on_event_stream(tab)
    blocked = False  # another network: upgrades go through now
    # What the client's timer does every websocketRetryMs (5 min), asked for now.
    moved = tab.page.evaluate(f"import({CLIENT}).then((module) => module.client.retryWebSocket())")
    assert moved is True
    tab.page.wait_for_selector('[data-notifications-bell][data-transport="websocket"][data-state="open"]')
    notify(alice, title="Back on the socket")
    tab.wait_count(1)
    tab.page.locator(".ntoast", has_text="Back on the socket").wait_for()
    context.close()
