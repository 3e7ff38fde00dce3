"""Any content fits on any screen (real Chromium at phone and desktop sizes): nothing widens the page,
every control stays on screen, with the longest title and body a notification may have."""

from __future__ import annotations

import pytest

from notifications import notify
from notifications.models import Notification
from notifications.services.validation import MAX_BODY_LENGTH
from tests.test_browser import SCREENSHOTS, Tab, browser, session_cookie  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
MAX_TITLE = Notification._meta.get_field("title").max_length
LONG_TITLE = ("Deploy of the billing service finished " * 10)[:MAX_TITLE]
UNBROKEN_TITLE = "x" * MAX_TITLE
LONG_BODY = ("All checks passed; the release notes follow. " * 300)[:MAX_BODY_LENGTH]

# What is off screen: the page wider than the window, or a visible control outside it
# (horizontally; vertically too for what floats over the page: toasts and the dropdown).
OFF_SCREEN = """(selectors) => {
  const width = window.innerWidth, height = window.innerHeight, problems = [];
  const page = document.documentElement.scrollWidth;
  if (page > width) {
    const widest = [...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > width);
    const names = widest.slice(0, 3).map((e) => e.tagName + "." + e.className);
    problems.push(`the page is ${page}px wide in a ${width}px window (${names.join(", ")})`);
  }
  for (const [selector, vertical] of selectors) {
    for (const element of document.querySelectorAll(selector)) {
      const box = element.getBoundingClientRect();
      if (!box.width || !box.height) continue;  // not shown
      const name = `${selector} "${(element.textContent || "").trim().slice(0, 20)}"`;
      if (box.left < 0 || box.right > width) problems.push(`${name} spans ${box.left}-${box.right}px of ${width}`);
      if (vertical && (box.top < 0 || box.bottom > height)) {
        problems.push(`${name} spans ${box.top}-${box.bottom}px of ${height}`);
      }
    }
  }
  return problems;
}"""

FLOATING = [
    ["[data-notifications-toggle]", True],
    [".ntoast", True],
    [".ntoast__close", True],
    [".ntoast__more", True],
]
DROPDOWN = [
    [".nbell__panel", True],
    ["[data-notifications-mark-all]", True],
    [".nbell__foot a", True],
    [".nbell__item", False],
]
INBOX = [[".inbox__item", False], [".inbox__actions button", False], [".inbox__title", False]]


@pytest.mark.parametrize("size", SIZES)
def test_the_longest_content_fits_every_screen(browser, daphne, alice, size) -> None:  # noqa: F811
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    name, value = session_cookie(alice).split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": daphne.origin}])
    tab = Tab(context, daphne).open("/").wait_connected()
    notify(alice, title="A short one", body="Fits anywhere.")
    notify(alice, title=UNBROKEN_TITLE, body="The title above has no spaces.")
    notify(alice, title=LONG_TITLE, body=LONG_BODY)
    tab.wait_count(3)
    tab.page.locator(".ntoast").nth(2).wait_for()
    assert tab.page.evaluate(OFF_SCREEN, FLOATING) == []
    # The longest toast is cut after a few lines and leads to all of it.
    assert tab.page.locator(".ntoast", has_text="Deploy of the billing").locator(".ntoast__more").count() == 1
    tab.page.screenshot(path=str(SCREENSHOTS / f"toasts-{size}.png"))

    tab.page.click("[data-notifications-toggle]")
    tab.page.locator(".nbell__item").nth(2).wait_for()
    assert tab.page.evaluate(OFF_SCREEN, DROPDOWN) == []
    tab.page.screenshot(path=str(SCREENSHOTS / f"dropdown-{size}.png"))

    tab.open("/notifications/")
    tab.page.locator(".inbox__item").nth(2).wait_for()
    assert tab.page.evaluate(OFF_SCREEN, INBOX) == []
    tab.page.screenshot(path=str(SCREENSHOTS / f"inbox-{size}.png"), full_page=True)
    assert tab.errors == []
    context.close()
