"""Every page carries the bell and the client for a signed-in user, and nothing for anonymous."""

from __future__ import annotations

import pytest

from notifications import notify

pytestmark = pytest.mark.django_db


def test_signed_in_page_has_the_bell_with_the_count_and_the_client(client, alice) -> None:
    sent = notify(alice, title="<b>one</b>")
    client.force_login(alice)
    response = client.get("/")
    page = response.content.decode()
    assert "data-notifications-bell" in page
    assert "data-notifications-count>1</span>" in page
    assert "notifications/ui.js" in page
    assert 'id="notifications-config"' in page
    # The client learns what the page was rendered with, so later arrivals are shown as new.
    assert f'"newestId": {sent.pk}' in page


def test_anonymous_page_has_no_socket(client) -> None:
    page = client.get("/").content.decode()
    assert "ui.js" not in page
    assert "data-notifications-bell" not in page
    assert "Log in" in page


def test_connection_page_needs_login_and_loads_its_script(client, alice) -> None:
    assert client.get("/notifications/live/").status_code == 302
    client.force_login(alice)
    page = client.get("/notifications/live/").content.decode()
    assert "notifications/live.js" in page
    assert "Opening handshake" in page
    assert "Server-Sent Events" in page
