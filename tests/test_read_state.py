"""Read state follows the person: a change anywhere reaches every open page of theirs, live."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from notifications import notify, services
from notifications.testing import DaphneServer, open_socket, receive_frame

pytestmark = pytest.mark.django_db(transaction=True)


def test_mark_read_over_http_updates_every_tab_of_that_person_only(daphne: DaphneServer, alice, bob) -> None:
    sent = notify(alice, title="Read me")
    notify(alice, title="Still unread")
    client = Client()
    client.force_login(alice)
    with open_socket(daphne, alice) as tab1, open_socket(daphne, alice) as tab2, open_socket(daphne, bob) as bob_ws:
        for ws in (tab1, tab2, bob_ws):
            receive_frame(ws, "hello")
        assert client.post(f"/notifications/api/{sent.pk}/read/").status_code == 200
        for tab in (tab1, tab2):
            frame = receive_frame(tab, "read_state")
            assert frame == {"type": "read_state", "change": "read", "ids": [sent.pk], "up_to": None, "unread_count": 1}
        # Bob's next frame is his own notification, not Alice's read state.
        notify(bob, title="Bob's")
        assert receive_frame(bob_ws)["type"] == "notification"


def test_mark_read_over_the_socket_acks_and_updates_other_tabs(daphne: DaphneServer, alice) -> None:
    one, two = notify(alice, title="one"), notify(alice, title="two")
    with open_socket(daphne, alice) as tab1, open_socket(daphne, alice) as tab2:
        receive_frame(tab1, "hello")
        receive_frame(tab2, "hello")
        tab1.send(json.dumps({"type": "mark_read", "ids": [one.pk, two.pk], "ref": "m1"}))
        assert receive_frame(tab1, "ack") == {"type": "ack", "ref": "m1", "changed": 2, "unread_count": 0}
        assert receive_frame(tab2, "read_state")["ids"] == [one.pk, two.pk]
        assert receive_frame(tab1, "read_state")["change"] == "read"  # the tab that asked gets it too
        tab2.send(json.dumps({"type": "mark_unread", "id": one.pk}))
        assert receive_frame(tab1, "read_state")["change"] == "unread"
    assert services.unread_count(alice) == 1


def test_mark_all_read_over_the_socket_respects_up_to(daphne: DaphneServer, alice) -> None:
    seen = notify(alice, title="seen")
    notify(alice, title="unseen")
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
        ws.send(json.dumps({"type": "mark_all_read", "up_to": seen.pk, "ref": 1}))
        assert receive_frame(ws, "ack")["unread_count"] == 1
        frame = receive_frame(ws, "read_state")
        assert (frame["change"], frame["up_to"], frame["ids"]) == ("all_read", seen.pk, [])


def test_another_users_id_over_the_socket_is_not_found_and_unchanged(daphne: DaphneServer, alice, bob) -> None:
    bobs = notify(bob, title="Bob's")
    mine = notify(alice, title="Alice's")
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
        ws.send(json.dumps({"type": "mark_read", "ids": [bobs.pk, mine.pk], "ref": "x"}))
        error = receive_frame(ws, "error")
        assert (error["code"], error["ref"]) == ("not_found", "x")
        assert str(bobs.pk) in error["message"]
    assert services.unread_count(bob) == 1
    assert services.unread_count(alice) == 0


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "mark_read"},
        {"type": "mark_read", "ids": []},
        {"type": "mark_read", "ids": "1"},
        {"type": "mark_read", "ids": [-1]},
        {"type": "mark_read", "ids": [1.5]},
        {"type": "mark_read", "ids": [True]},
        {"type": "mark_read", "id": 2**70},
        {"type": "mark_read", "ids": list(range(1, 500))},
        {"type": "mark_all_read", "up_to": "soon"},
    ],
)
def test_bad_read_requests_get_bad_field(daphne: DaphneServer, alice, frame) -> None:
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
        ws.send(json.dumps(frame))
        assert receive_frame(ws)["code"] == "bad_field"
        ws.send('{"type": "ping"}')
        assert receive_frame(ws)["type"] == "pong"
