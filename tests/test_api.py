"""The JSON API: listing, paging, read state, deletion, and its errors (always JSON)."""

from __future__ import annotations

import pytest
from django.test import Client

from notifications import notify
from notifications.models import Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client: Client, alice) -> Client:
    client.force_login(alice)
    return client


def ids(response) -> list[int]:
    return [item["id"] for item in response.json()["results"]]


def test_list_is_newest_first_with_the_socket_payload(alice_client, alice, bob) -> None:
    first = notify(alice, title="First", kind="build", data={"n": 1})
    second = notify(alice, title="Second", level="error", actor=bob)
    notify(bob, title="Not Alice's")
    body = alice_client.get("/notifications/api/").json()
    assert [item["id"] for item in body["results"]] == [second.pk, first.pk]
    assert body["next"] is None
    item = body["results"][1]
    assert set(item) >= {"id", "title", "body", "level", "url", "kind", "data", "created_at", "read"}
    assert (item["title"], item["kind"], item["data"], item["read"]) == ("First", "build", {"n": 1}, False)
    assert body["results"][0]["actor"] == {"id": bob.pk, "name": "bob"}


def test_filters(alice_client, alice) -> None:
    info = notify(alice, title="info", kind="build")
    error = notify(alice, title="error", level="error", kind="deploy")
    alice_client.post(f"/notifications/api/{info.pk}/read/")
    assert ids(alice_client.get("/notifications/api/?unread=1")) == [error.pk]
    assert ids(alice_client.get("/notifications/api/?level=error")) == [error.pk]
    assert ids(alice_client.get("/notifications/api/?kind=build")) == [info.pk]


def test_pages_neither_skip_nor_repeat_while_notifications_arrive(alice_client, alice) -> None:
    sent = [notify(alice, title=f"n{i}").pk for i in range(7)]
    page1 = alice_client.get("/notifications/api/?limit=3").json()
    notify(alice, title="arrived between pages 1 and 2")
    page2 = alice_client.get(page1["next"]).json()
    notify(alice, title="arrived between pages 2 and 3")
    page3 = alice_client.get(page2["next"]).json()
    seen = [item["id"] for page in (page1, page2, page3) for item in page["results"]]
    assert seen == sorted(sent, reverse=True)
    assert page3["next"] is None
    assert "limit=3" in page2["next"]


@pytest.mark.parametrize(
    "params",
    ["limit=0", "limit=-1", "limit=abc", "before=x", "level=fatal", "unread=maybe", "limit=99999999999999999999"],
)
def test_bad_parameters_are_400_json(alice_client, params) -> None:
    response = alice_client.get(f"/notifications/api/?{params}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]


def test_limit_is_capped(alice_client, alice) -> None:
    for i in range(3):
        notify(alice, title=str(i))
    assert len(ids(alice_client.get("/notifications/api/?limit=1000"))) == 3


def test_unread_count(alice_client, alice) -> None:
    notify(alice, title="a")
    notify(alice, title="b")
    assert alice_client.get("/notifications/api/unread-count/").json() == {"unread_count": 2}


def test_sync_over_http_pages_like_the_socket(alice_client, alice) -> None:
    first = notify(alice, title="a")
    reset = alice_client.get("/notifications/api/sync/").json()
    assert (reset["type"], reset["reset"], reset["more"]) == ("sync", True, False)
    assert [n["title"] for n in reset["notifications"]] == ["a"]
    second = notify(alice, title="b")
    caught_up = alice_client.get("/notifications/api/sync/", {"cursor": reset["cursor"]}).json()
    # From a cursor: what came after it (and, as on the socket, the look-back window before it).
    assert [n["id"] for n in caught_up["notifications"]] == [first.pk, second.pk]
    assert (caught_up["reset"], caught_up["unread_count"], caught_up["cursor"]) == (False, 2, f"1.{second.pk}")


def test_read_unread_and_delete(alice_client, alice) -> None:
    one, two = notify(alice, title="one"), notify(alice, title="two")
    assert alice_client.post(f"/notifications/api/{one.pk}/read/").json() == {"updated": 1, "unread_count": 1}
    assert alice_client.post(f"/notifications/api/{one.pk}/read/").json() == {"updated": 0, "unread_count": 1}
    assert alice_client.post(f"/notifications/api/{one.pk}/unread/").json() == {"updated": 1, "unread_count": 2}
    assert alice_client.delete(f"/notifications/api/{two.pk}/").json() == {"updated": 1, "unread_count": 1}
    assert ids(alice_client.get("/notifications/api/")) == [one.pk]
    assert alice_client.delete(f"/notifications/api/{two.pk}/").status_code == 404


def test_read_all_only_up_to_what_was_seen(alice_client, alice) -> None:
    seen = notify(alice, title="seen")
    notify(alice, title="not seen yet")
    response = alice_client.post("/notifications/api/read-all/", {"up_to": seen.pk}, content_type="application/json")
    assert response.json() == {"updated": 1, "unread_count": 1}
    assert alice_client.post("/notifications/api/read-all/").json() == {"updated": 1, "unread_count": 0}


@pytest.mark.parametrize("body", ['{"up_to": "x"}', '{"up_to": -3}', "[1]", "{not json"])
def test_read_all_bad_body_is_400(alice_client, body) -> None:
    response = alice_client.post("/notifications/api/read-all/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]
    if "up_to" in body:
        assert response.json()["error"].startswith("up_to: ")  # the field the caller sent


def test_unknown_paths_under_the_api_are_json_404s_and_json_ends_with_a_newline(alice_client) -> None:
    for url in ["/notifications/api/nope/", "/notifications/api/1/explode/", "/notifications/api/sync/extra"]:
        response = alice_client.get(url)
        assert response.status_code == 404, url
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"error": f"No such API endpoint: {url}"}
    for url in ["/notifications/api/", "/notifications/api/unread-count/", "/notifications/api/sync/"]:
        assert alice_client.get(url).content.endswith(b"}\n"), url


def test_another_users_notification_is_404_never_403(alice_client, bob) -> None:
    bobs = notify(bob, title="Bob's")
    for method, url in [
        ("post", f"/notifications/api/{bobs.pk}/read/"),
        ("post", f"/notifications/api/{bobs.pk}/unread/"),
        ("delete", f"/notifications/api/{bobs.pk}/"),
        ("post", "/notifications/api/999999/read/"),
        ("post", f"/notifications/api/{2**64}/read/"),
    ]:
        response = getattr(alice_client, method)(url)
        assert response.status_code == 404, url
        assert response.json() == {"error": "No such notification in your inbox."}
    assert Delivery.objects.get(notification=bobs).read_at is None
    assert Delivery.objects.get(notification=bobs).deleted_at is None
    assert bobs.pk not in ids(alice_client.get("/notifications/api/"))


def test_not_signed_in_is_401_json(client) -> None:
    for url in ["/notifications/api/", "/notifications/api/unread-count/"]:
        response = client.get(url)
        assert response.status_code == 401
        assert response.json()["error"]
    assert client.post("/notifications/api/1/read/").status_code == 401


def test_wrong_method_is_405_json(alice_client) -> None:
    response = alice_client.post("/notifications/api/")
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert alice_client.get("/notifications/api/1/read/").status_code == 405
    assert alice_client.get("/notifications/api/1/").json()["error"].startswith("Method GET not allowed")


def test_unsafe_methods_need_the_csrf_token(alice) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    sent = notify(alice, title="x")
    refused = client.post(f"/notifications/api/{sent.pk}/read/")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]
    client.get("/notifications/")  # the page sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post(f"/notifications/api/{sent.pk}/read/", headers={"X-CSRFToken": token})
    assert accepted.status_code == 200
