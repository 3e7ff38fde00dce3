"""End to end: notify() anywhere -> database -> Redis -> a real Daphne process -> the socket."""

from __future__ import annotations

import pytest
from django.db import transaction

from notifications import EVERYONE, notify
from notifications.testing import DaphneServer, open_socket, receive_frame

pytestmark = pytest.mark.django_db(transaction=True)


def test_manage_py_notify_reaches_the_recipient_and_no_one_else(daphne: DaphneServer, alice, bob) -> None:
    with open_socket(daphne, alice) as alice_ws, open_socket(daphne, bob) as bob_ws:
        assert receive_frame(alice_ws, "hello")["unread_count"] == 0
        receive_frame(bob_ws, "hello")

        result = daphne.manage("notify", "--user", "alice", "--title", "Build finished", "--url", "/builds/42/")
        assert result.returncode == 0, result.stderr

        frame = receive_frame(alice_ws, "notification")
        assert frame["notification"]["title"] == "Build finished"
        assert frame["notification"]["url"] == "/builds/42/"
        assert frame["notification"]["read"] is False

        # Bob's next frame is the one sent to him, not Alice's.
        notify(bob, title="For Bob")
        assert receive_frame(bob_ws, "notification")["notification"]["title"] == "For Bob"


def test_every_open_page_of_the_recipient_receives_it(daphne: DaphneServer, alice) -> None:
    with open_socket(daphne, alice) as tab1, open_socket(daphne, alice) as tab2:
        receive_frame(tab1, "hello")
        receive_frame(tab2, "hello")
        sent = notify(alice, title="Two tabs")
        assert receive_frame(tab1, "notification")["notification"]["id"] == sent.pk
        assert receive_frame(tab2, "notification")["notification"]["id"] == sent.pk


def test_group_send_reaches_members_only(daphne: DaphneServer, alice, bob, carol, staff) -> None:
    with open_socket(daphne, alice) as a, open_socket(daphne, bob) as b, open_socket(daphne, carol) as c:
        for ws in (a, b, c):
            receive_frame(ws, "hello")
        notify(staff, title="Staff meeting")
        notify(carol, title="Only Carol")
        assert receive_frame(a, "notification")["notification"]["title"] == "Staff meeting"
        assert receive_frame(b, "notification")["notification"]["title"] == "Staff meeting"
        assert receive_frame(c, "notification")["notification"]["title"] == "Only Carol"


def test_everyone_reaches_every_user(daphne: DaphneServer, alice, carol) -> None:
    with open_socket(daphne, alice) as a, open_socket(daphne, carol) as c:
        receive_frame(a, "hello")
        receive_frame(c, "hello")
        notify(EVERYONE, title="Maintenance tonight", level="warning")
        for ws in (a, c):
            notification = receive_frame(ws, "notification")["notification"]
            assert (notification["title"], notification["level"]) == ("Maintenance tonight", "warning")


def test_a_rolled_back_transaction_pushes_nothing(daphne: DaphneServer, alice) -> None:
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")

        def send_then_fail() -> None:
            with transaction.atomic():
                notify(alice, title="Rolled back")
                raise RuntimeError("the caller's transaction fails after notify()")

        with pytest.raises(RuntimeError):
            send_then_fail()

        with transaction.atomic():
            notify(alice, title="Committed")
            # Nothing is pushed before the commit: the socket has nothing to read yet.
            with pytest.raises(TimeoutError):
                ws.recv(timeout=0.3)

        assert receive_frame(ws, "notification")["notification"]["title"] == "Committed"


def test_greeting_carries_the_unread_count(daphne: DaphneServer, alice) -> None:
    notify(alice, title="One")
    notify(alice, title="Two")
    with open_socket(daphne, alice) as ws:
        hello = receive_frame(ws, "hello")
    assert hello["unread_count"] == 2
    assert hello["user"] == {"id": alice.pk, "username": "alice"}
    assert hello["v"] == 1
