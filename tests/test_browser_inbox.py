"""The inbox page in Chromium: delete can be undone for a few seconds."""

from __future__ import annotations

import pytest

from notifications import notify
from notifications.models import Delivery
from notifications.testing import wait_until
from tests.test_browser import Tab, browser, signed_in_context  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)


def deleted(notification) -> bool:
    return Delivery.objects.get(notification=notification).deleted_at is not None


def test_delete_can_be_undone_until_it_is_sent(browser, daphne, alice) -> None:  # noqa: F811
    kept = notify(alice, title="Kept after all")
    gone = notify(alice, title="Deleted for good")
    context = signed_in_context(browser, daphne, alice)
    tab = Tab(context, daphne).open("/notifications/").wait_connected()

    tab.page.locator(f'.inbox__item[data-id="{kept.pk}"] button[value="delete"]').click()
    tab.page.wait_for_selector(f'.inbox__item[data-id="{kept.pk}"]', state="hidden")
    tab.page.click(".inbox__undo button")
    tab.page.wait_for_selector(f'.inbox__item[data-id="{kept.pk}"]', state="visible")

    tab.page.locator(f'.inbox__item[data-id="{gone.pk}"] button[value="delete"]').click()
    assert tab.page.locator(".inbox__undo").text_content().startswith("Deleted.")
    # Sent once the undo time is up: gone from the database and from the page.
    wait_until(lambda: deleted(gone), timeout=15, what="the delete to be sent")
    tab.page.wait_for_selector(f'.inbox__item[data-id="{gone.pk}"]', state="detached")
    assert tab.page.locator(".inbox__undo").count() == 0
    # The undone one was asked first, so its delete would have gone out before this one's.
    assert not deleted(kept)
    assert tab.errors == []
    context.close()
