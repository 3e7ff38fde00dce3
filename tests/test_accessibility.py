"""Keyboard and screen reader (real Chromium): the bell works from the keyboard, and axe-core (from npm,
installed by `make test`) finds no serious or critical violation on the pages people use."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from notifications import notify
from tests import REPO_DIR
from tests.test_browser import Tab, browser, signed_in_context  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)

AXE = REPO_DIR / "var" / "npm" / "node_modules" / "axe-core" / "axe.min.js"

RUN_AXE = """async () => {
  const results = await axe.run(document, { resultTypes: ["violations"] });
  return results.violations
    .filter((violation) => ["serious", "critical"].includes(violation.impact))
    .map((violation) => `${violation.id} (${violation.impact}): ${violation.help} at `
      + violation.nodes.slice(0, 3).map((node) => node.target.join(" ")).join(", "));
}"""


def violations(tab: Tab) -> list[str]:
    if not AXE.exists():
        raise RuntimeError(f"No axe-core at {AXE}: `make browser` installs it from npm.")
    tab.page.add_script_tag(path=str(AXE))
    return tab.page.evaluate(RUN_AXE)


def test_the_bell_works_from_the_keyboard(browser, daphne, alice) -> None:  # noqa: F811
    notify(alice, title="Read me from the keyboard")
    context = signed_in_context(browser, daphne, alice)
    tab = Tab(context, daphne).open("/").wait_connected()
    tab.page.focus("[data-notifications-toggle]")
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_selector("[data-notifications-panel]:not([hidden])")
    assert tab.page.evaluate("document.querySelector('[data-notifications-panel]').contains(document.activeElement)")
    assert tab.page.get_attribute("[data-notifications-toggle]", "aria-expanded") == "true"
    tab.page.keyboard.press("Escape")
    tab.page.wait_for_selector("[data-notifications-panel]", state="hidden")
    assert tab.page.evaluate("document.activeElement.matches('[data-notifications-toggle]')")
    context.close()


@pytest.mark.parametrize(
    ("path", "open_dropdown"),
    [
        ("/", True),
        ("/notifications/", False),
        ("/notifications/live/", False),
        ("/presence/lobby/", False),
        ("/admin/live_notifications/notification/add/", False),
    ],
)
def test_no_serious_accessibility_violations(browser, daphne, alice, path, open_dropdown) -> None:  # noqa: F811
    User.objects.filter(pk=alice.pk).update(is_staff=True, is_superuser=True)  # the composer is for staff
    notify(alice, title="An unread one", body="With a body.", url="/notifications/")
    notify(alice, title="A read one")
    context = signed_in_context(browser, daphne, alice)
    tab = Tab(context, daphne).open(path)
    tab.page.wait_for_load_state("load")
    if open_dropdown:
        tab.wait_connected()
        tab.page.click("[data-notifications-toggle]")
        tab.page.locator(".nbell__item").nth(1).wait_for()
    assert violations(tab) == []
    context.close()
