"""The presence app, end to end through Daphne and Redis: tabs, two processes, expiry, authorization."""

from __future__ import annotations

import json
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from notifications import is_connected
from notifications.testing import DaphneServer, open_socket, receive_frame
from presence import services
from tests.conftest import start_daphne

pytestmark = pytest.mark.django_db(transaction=True)

LOBBY = {"room": "lobby"}


def subscribe(ws, params: dict = LOBBY, topic: str = "presence.room") -> dict:
    receive_frame(ws, "hello")
    ws.send(json.dumps({"type": "subscribe", "topic": topic, "params": params, "ref": "sub"}))
    answer = receive_frame(ws)
    while answer["type"] not in {"subscribed", "error"}:
        answer = receive_frame(ws)
    return answer


def next_event(ws, event: str, *, timeout: float = 10, heartbeat: float | None = None) -> dict:
    """The next presence event of a kind (pinging meanwhile when ``heartbeat`` is set)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if heartbeat:
            ws.send('{"type": "ping"}')
        try:
            frame = receive_frame(ws, "topic", timeout=heartbeat or max(0.05, deadline - time.monotonic()))
        except TimeoutError:
            continue
        if frame["data"]["event"] == event:
            return frame["data"]
    raise TimeoutError(f"no {event} event within {timeout} s")


def event(ws) -> dict:
    """The next presence event, whatever it is."""
    return receive_frame(ws, "topic")["data"]


def test_a_person_joins_once_and_leaves_with_their_last_tab(daphne: DaphneServer, alice, bob, carol) -> None:
    with open_socket(daphne, bob) as watcher:
        assert subscribe(watcher)["type"] == "subscribed"
        assert event(watcher) == {"event": "snapshot", "users": [{"id": bob.pk, "username": "bob"}]}
        with open_socket(daphne, alice) as tab1:
            subscribe(tab1)
            assert event(watcher) == {"event": "join", "user": {"id": alice.pk, "username": "alice"}}
            with open_socket(daphne, alice) as tab2:
                subscribe(tab2)
                assert {u["username"] for u in next_event(tab2, "snapshot")["users"]} == {"alice", "bob"}
            # A second tab and its closing announce nothing: the next event the watcher sees is carol's.
            with open_socket(daphne, carol) as marker:
                subscribe(marker)
                assert event(watcher)["user"]["username"] == "carol"
            assert event(watcher) == {"event": "leave", "user": {"id": carol.pk, "username": "carol"}}
            assert services.is_present(alice, "lobby")
        assert event(watcher) == {"event": "leave", "user": {"id": alice.pk, "username": "alice"}}
    assert not services.is_present(alice, "lobby")


def test_a_tab_closed_while_its_subscribe_is_answered_still_leaves(daphne: DaphneServer, alice, bob) -> None:
    """The answer to a socket the client already closed must not crash the consumer before it leaves."""
    with open_socket(daphne, bob) as watcher:
        subscribe(watcher)
        assert event(watcher)["event"] == "snapshot"
        with open_socket(daphne, alice) as tab:
            receive_frame(tab, "hello")
            daphne.freeze()  # the server reads the subscribe and the close together, once thawed
            try:
                tab.send(json.dumps({"type": "subscribe", "topic": "presence.room", "params": LOBBY, "ref": "sub"}))
                tab.close()  # gives up waiting for the frozen server's close frame after close_timeout
            finally:
                daphne.thaw()
        # Closed before "subscribed" could be sent: the join, then the leave, still reach the room.
        assert event(watcher) == {"event": "join", "user": {"id": alice.pk, "username": "alice"}}
        assert event(watcher) == {"event": "leave", "user": {"id": alice.pk, "username": "alice"}}
    assert not services.is_present(alice, "lobby")


def test_presence_across_two_daphne_processes(private_redis, alice, bob) -> None:
    server_a, server_b = start_daphne(private_redis), start_daphne(private_redis)
    try:
        with open_socket(server_a, alice) as on_a, open_socket(server_b, bob) as on_b:
            subscribe(on_a)
            next_event(on_a, "snapshot")
            subscribe(on_b)
            assert next_event(on_a, "join")["user"]["username"] == "bob"
            assert {u["username"] for u in next_event(on_b, "snapshot")["users"]} == {"alice", "bob"}
            with override_settings(CHANNEL_LAYERS=private_redis.channel_layers()):
                assert [p.username for p in services.people_in("lobby")] == ["alice", "bob"]
                assert is_connected(alice)
                assert not is_connected(User.objects.create_user("nobody"))
    finally:
        server_a.stop()
        server_b.stop()


def test_a_dead_process_s_people_expire_through_heartbeats(private_redis, alice, bob) -> None:
    short_ttl = {"PRESENCE_JSON": json.dumps({"TTL": 1.5})}
    server_a = start_daphne(private_redis, env=short_ttl)
    server_b = start_daphne(private_redis, env=short_ttl)
    try:
        with open_socket(server_b, bob) as survivor, open_socket(server_a, alice) as doomed:
            subscribe(survivor)
            next_event(survivor, "snapshot")
            subscribe(doomed)
            assert next_event(survivor, "join", heartbeat=0.3)["user"]["username"] == "alice"
            server_a.stop(kill=True)  # no goodbye: alice's entry stays until it expires
            left = next_event(survivor, "leave", timeout=15, heartbeat=0.3)
            assert (left["user"]["username"], left["reason"]) == ("alice", "expired")
    finally:
        server_a.stop()
        server_b.stop()


def test_staff_rooms_refuse_others_with_an_error_and_no_data(daphne: DaphneServer, alice, carol) -> None:
    staff_room = {"room": "staff-lounge"}
    with open_socket(daphne, carol) as ws:
        refused = subscribe(ws, staff_room)
        assert (refused["type"], refused["code"], refused["ref"]) == ("error", "forbidden", "sub")
        ws.send('{"type": "ping", "ref": "after"}')
        assert receive_frame(ws)["type"] == "pong"  # nothing about the room came before the pong
    with open_socket(daphne, alice) as ws:
        assert subscribe(ws, staff_room)["type"] == "subscribed"
        assert next_event(ws, "snapshot")["users"] == [{"id": alice.pk, "username": "alice"}]


@pytest.mark.parametrize(
    ("topic", "params", "code"),
    [
        ("no.such.topic", LOBBY, "unknown_topic"),
        ("presence.room", {"room": "Not A Room!"}, "forbidden"),
        ("presence.room", {"room": "lobby", "extra": 1}, "forbidden"),
        ("presence.room", {"room": ["lobby"]}, "bad_field"),
        ("presence.room", "lobby", "bad_field"),
        (42, LOBBY, "bad_field"),
    ],
)
def test_bad_subscriptions_get_clear_errors(daphne: DaphneServer, alice, topic, params, code) -> None:
    with open_socket(daphne, alice) as ws:
        assert subscribe(ws, params, topic)["code"] == code


def test_the_admin_shows_who_is_online(daphne: DaphneServer, alice, bob) -> None:
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password="pw"))
    with open_socket(daphne, alice) as ws:
        subscribe(ws, {"room": "lobby"})
        next_event(ws, "snapshot")
        page = admin.get("/admin/presence/onlineuser/").content.decode()
    assert "alice" in page
    assert "lobby" in page
    assert ">bob<" not in page


def test_the_demo_page_renders_for_a_signed_in_user(client, alice) -> None:
    assert client.get("/presence/").status_code == 302
    client.force_login(alice)
    page = client.get("/presence/lobby/").content.decode()
    assert "presence/presence.js" in page
    assert client.get("/presence/Bad%20Room/").status_code == 400
