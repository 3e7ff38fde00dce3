"""Their language (real Chromium in German): bell, dropdown, inbox and toasts speak it."""

from __future__ import annotations

import pytest

from notifications import notify
from tests.test_browser import Tab, browser, session_cookie  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_german_browser_gets_german_pages(browser, daphne, alice) -> None:  # noqa: F811
    context = browser.new_context(locale="de-DE", extra_http_headers={"Accept-Language": "de-DE,de;q=0.9"})
    name, value = session_cookie(alice).split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": daphne.origin}])
    tab = Tab(context, daphne).open("/notifications/").wait_connected()
    assert tab.page.get_attribute("html", "lang") == "de"
    assert "Benachrichtigungen" in tab.page.locator(".inbox__header h1").text_content()
    assert tab.page.locator("label", has_text="Nur ungelesene").count() == 1

    notify(alice, title="Build fertig", body=("Alle Tests bestanden. " * 40).strip())
    toast = tab.page.locator(".ntoast", has_text="Build fertig")
    toast.wait_for()
    assert toast.locator(".ntoast__close").get_attribute("aria-label") == "Schließen"
    assert toast.locator(".ntoast__more").text_content() == "mehr"
    tab.page.locator(".inbox__item", has_text="Build fertig").locator("button", has_text="Löschen").wait_for()
    # Relative times in the browser's language too.
    assert tab.page.locator(".inbox__item", has_text="Build fertig").locator("time").text_content() == "jetzt"

    tab.page.click("[data-notifications-toggle]")
    panel = tab.page.locator("[data-notifications-panel]")
    assert panel.locator("button", has_text="Alle als gelesen markieren").is_visible()
    assert panel.locator("a", has_text="Posteingang öffnen").is_visible()
    assert tab.errors == []
    context.close()
