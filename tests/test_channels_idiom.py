"""A LiveConsumer written the Channels way (group_add with self.channel_name, group_send, a handler) works."""

from __future__ import annotations

import pytest
from django.test import override_settings

from notifications import realtime
from notifications.testing import open_socket, receive_frame
from tests.conftest import start_daphne

pytestmark = pytest.mark.django_db(transaction=True)

ROUTES = {"WEBSOCKET_ROUTES": ["notifications.routing", "tests.sites.standard_idiom"]}
ROOM = "/ws/tutorial/lobby/"


def joined(ws) -> None:
    """on_connect (and so its group_add) has run: frames are handled in order, after it."""
    ws.send('{"type": "ping", "ref": "joined"}')
    assert receive_frame(ws, "pong")["ref"] == "joined"


def test_group_add_group_send_and_a_handler_as_in_the_channels_tutorial(private_redis, alice, bob) -> None:
    server = start_daphne(private_redis, notifications=ROUTES)
    try:
        with open_socket(server, alice, path=ROOM) as a, open_socket(server, bob, path=ROOM) as b:
            joined(a)
            joined(b)
            a.send('{"type": "say", "text": "hi"}')
            for ws in (a, b):
                assert receive_frame(ws, "said") == {"type": "said", "text": "hi", "user": "alice"}

            # From sync code (a view, a worker): the same group name, the same handler.
            with override_settings(CHANNEL_LAYERS=private_redis.channel_layers()):
                realtime.publish_event(["chat_lobby"], {"type": "chat.message", "text": "from a view", "user": "app"})
                assert realtime.flush(timeout=10)
            for ws in (a, b):
                assert receive_frame(ws, "said")["text"] == "from a view"

            # send() to its own channel_name runs its own handler, and only there.
            a.send('{"type": "note_to_self"}')
            assert receive_frame(a, "said")["text"] == "note"

            # Another socket's channel_name has no listener: refused, named in the log, the socket stays.
            a.send('{"type": "whisper_to", "channel": "socket!0123.4567", "ref": "w"}')
            assert receive_frame(a, "error") == {
                "type": "error",
                "code": "server_error",
                "message": "The server failed to handle this frame.",
                "ref": "w",
            }
            assert "join a group of its own" in server.output()

            a.send('{"type": "say", "text": "still here"}')
            for ws in (a, b):
                assert receive_frame(ws, "said")["text"] == "still here"  # bob never got alice's note
    finally:
        server.stop()
