"""One time, the viewer's (real Chromium in New York): server-rendered and live items read the same."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from notifications import notify
from tests.test_browser import Tab, browser, session_cookie  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_time_reads_in_the_viewers_zone_the_same_server_rendered_and_live(browser, daphne, alice) -> None:  # noqa: F811
    context = browser.new_context(timezone_id="America/New_York", locale="en-US")
    name, value = session_cookie(alice).split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": daphne.origin}])
    rendered = notify(alice, title="There when the page rendered")
    tab = Tab(context, daphne).open("/notifications/").wait_connected()
    live = notify(alice, title="Arrived live")
    tab.page.wait_for_selector(f'.inbox__item[data-id="{live.pk}"]')
    tab.page.click("[data-notifications-toggle]")
    tab.page.locator(".nbell__item").nth(1).wait_for()

    def shown(selector: str) -> tuple[str, str]:
        element = tab.page.locator(selector)
        return element.text_content(), element.get_attribute("title")

    server_side = shown(f'.inbox__item[data-id="{rendered.pk}"] time')
    inserted = shown(f'.inbox__item[data-id="{live.pk}"] time')
    in_dropdown = shown(f'.nbell__item[data-id="{rendered.pk}"] time')
    # Recent: relative, and the same words however the item got onto the page.
    assert server_side[0] == in_dropdown[0] == inserted[0] == "now"
    # On hover, the full time in New York, the same for the same notification.
    assert server_side[1] == in_dropdown[1]
    new_york = rendered.created_at.astimezone(ZoneInfo("America/New_York"))
    assert new_york.strftime("%-I:%M") in server_side[1]
    assert "Eastern" in server_side[1] or "EST" in server_side[1] or "EDT" in server_side[1]
    assert tab.errors == []
    context.close()
