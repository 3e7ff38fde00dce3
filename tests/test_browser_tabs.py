"""The tabs of one browser share one connection (real Chromium, Daphne, Redis): tabs.js."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from notifications import connections, notify
from notifications.testing import wait_until
from tests.test_browser import TOAST_RECORDER, Tab, browser, signed_in_context  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)


def server_connections(user: object) -> int:
    """The user's open connections as the server counts them (across processes, in Redis)."""
    with ThreadPoolExecutor(1) as pool:  # the browser's event loop runs in this thread
        return pool.submit(asyncio.run, connections.count(user.pk)).result()


def role(tab: Tab) -> str | None:
    return tab.page.get_attribute("[data-notifications-bell]", "data-connection")


def test_five_tabs_hold_one_connection_and_hand_it_over_without_losing_anything(browser, daphne, alice) -> None:  # noqa: F811
    context = signed_in_context(browser, daphne, alice)
    context.add_init_script(TOAST_RECORDER)
    tabs = [Tab(context, daphne).open(path).wait_connected() for path in ("/", "/notifications/", "/", "/", "/")]
    assert [role(tab) for tab in tabs] == ["leader"] + ["follower"] * 4
    assert sum(len(tab.sockets) for tab in tabs) == 1  # only the first tab opened a WebSocket
    wait_until(lambda: server_connections(alice) == 1, timeout=10, what="one connection on the server")

    notify(alice, title="To every tab")
    for tab in tabs:
        tab.wait_count(1)
        tab.page.locator(".ntoast", has_text="To every tab").wait_for()

    # The tab holding the connection closes; a notification is sent while another takes over.
    leader, followers = tabs[0], tabs[1:]
    leader.page.close()
    notify(alice, title="Sent during the handover")
    for tab in followers:
        tab.wait_count(2)
    wait_until(
        lambda: sorted(role(tab) for tab in followers) == ["follower"] * 3 + ["leader"],
        timeout=10,
        what="one of the remaining tabs to lead",
    )
    wait_until(lambda: server_connections(alice) == 1, timeout=10, what="one connection after the handover")
    assert sum(len(tab.sockets) for tab in followers) == 1

    notify(alice, title="After the handover")
    for tab in followers:
        tab.wait_count(3)
        tab.page.locator(".ntoast", has_text="After the handover").wait_for()
        # Each shown once in every tab, however the handover went.
        assert sorted(tab.page.evaluate("window.__toasts")) == [
            "After the handover",
            "Sent during the handover",
            "To every tab",
        ]
        assert tab.errors == []

    # Read state crosses the shared connection: a follower marks read, every tab follows.
    follower = next(tab for tab in followers if role(tab) == "follower")
    follower.page.click("[data-notifications-toggle]")
    follower.page.locator(".nbell__item", has_text="To every tab").click()
    for tab in followers:
        tab.wait_count(2)
    context.close()


def test_topics_are_shared_by_the_tabs_that_follow_them_and_survive_a_handover(browser, daphne, alice, bob) -> None:  # noqa: F811
    mine = signed_in_context(browser, daphne, alice)
    one = Tab(mine, daphne).open("/presence/lobby/")
    one.page.wait_for_selector('[data-presence-people] li:has-text("alice")')
    two = Tab(mine, daphne).open("/presence/lobby/")
    # The second tab's subscription goes over the first tab's connection; it gets its own snapshot.
    two.page.wait_for_selector('[data-presence-people] li:has-text("alice")')
    assert (role(one), role(two)) == ("leader", "follower")

    theirs = signed_in_context(browser, daphne, bob)
    bob_tab = Tab(theirs, daphne).open("/presence/lobby/")
    for tab in (one, two):
        tab.page.wait_for_selector('[data-presence-people] li:has-text("bob")')

    one.page.close()  # the leader: the second tab takes the connection and follows the room again
    two.page.wait_for_selector('[data-notifications-bell][data-connection="leader"][data-state="open"]')
    two.page.wait_for_selector('[data-presence-people] li:has-text("alice")')
    bob_tab.page.close()
    two.page.wait_for_selector('[data-presence-people] li:has-text("bob")', state="detached")
    assert two.errors == []
    mine.close()
    theirs.close()
