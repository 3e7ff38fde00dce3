"""The server-rendered inbox page works without JavaScript and shows content as text."""

from __future__ import annotations

import pytest

from notifications import notify, services

pytestmark = pytest.mark.django_db


def test_inbox_requires_login(client) -> None:
    response = client.get("/notifications/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_inbox_lists_the_users_notifications_as_text(client, alice, bob) -> None:
    notify(alice, title="<img src=x onerror=alert(1)>", body="{{ secret }} <script>x</script>", url="/builds/1/")
    notify(bob, title="Bob's secret")
    client.force_login(alice)
    page = client.get("/notifications/").content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "Bob&#x27;s secret" not in page
    assert "Bob's secret" not in page
    assert 'href="/builds/1/"' in page


def test_inbox_filters_and_pages(client, alice) -> None:
    for i in range(25):
        notify(alice, title=f"n{i}", level="error" if i == 3 else "info")
    client.force_login(alice)
    first = client.get("/notifications/").content.decode()
    assert "n24" in first
    assert "n5" in first
    assert "n4<" not in first
    assert "before=" in first
    assert "n3" in client.get("/notifications/?level=error").content.decode()
    bad = client.get("/notifications/?limit=abc")
    assert bad.status_code == 400
    # In the site's layout, saying what was wrong, with a way back.
    page = bad.content.decode()
    assert "<header>" in page
    assert "limit" in page
    assert 'href="/notifications/">Back to the inbox' in page


def test_actions_without_javascript(client, alice, bob) -> None:
    one, two = notify(alice, title="one"), notify(alice, title="two")
    bobs = notify(bob, title="bob's")
    client.force_login(alice)
    response = client.post(
        "/notifications/action/", {"action": "read", "id": one.pk, "next": "/notifications/?unread=1"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/notifications/?unread=1"
    assert services.unread_count(alice) == 1
    client.post("/notifications/action/", {"action": "delete", "id": two.pk})
    assert [item["id"] for item in services.inbox(alice).items] == [one.pk]
    client.post("/notifications/action/", {"action": "unread", "id": one.pk})
    client.post("/notifications/action/", {"action": "read_all"})
    assert services.unread_count(alice) == 0
    # Someone else's id changes nothing; an open redirect is refused.
    response = client.post(
        "/notifications/action/", {"action": "delete", "id": bobs.pk, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/notifications/"
    assert services.unread_count(bob) == 1
    assert client.post("/notifications/action/", {"action": "explode"}).status_code == 400
    assert client.post("/notifications/action/", {"action": "read", "id": "x"}).status_code == 400
    assert client.get("/notifications/action/").status_code == 405
