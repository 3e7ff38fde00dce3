"""The Python client as a script uses it: a token from the site's API before every connect, a callback per item."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest
from django.test import override_settings

from notifications import notify
from notifications.pyclient import LiveInbox
from notifications.testing import session_cookie, wait_until
from tests import FAST_CLIENT
from tests.conftest import start_daphne

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN_TTL = 2  # seconds: short, so that the token of the first connect is dead by the reconnect


def test_reconnects_with_a_fresh_token_and_hands_each_notification_to_the_callback_once(private_redis, alice) -> None:
    server = start_daphne(private_redis, notifications={"TOKEN_TTL": TOKEN_TTL})
    cookie = f"{session_cookie(alice)}; csrftoken={'c' * 32}"
    issued: list[float] = []

    def fresh_token() -> str:
        """What a script does: ask the site for a token with the credentials it holds."""
        request = urllib.request.Request(
            f"{server.origin}/notifications/api/token/",
            method="POST",
            headers={"Cookie": cookie, "X-CSRFToken": "c" * 32},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            issued.append(time.monotonic())
            return json.load(response)["token"]

    handed: list[str] = []
    lock = threading.Lock()

    def on_notification(item: dict) -> None:
        with lock:
            handed.append(item["title"])

    def titles() -> list[str]:
        with lock:
            return sorted(handed)

    inbox = LiveInbox(server.ws_url(), token=fresh_token, on_notification=on_notification, **FAST_CLIENT)
    try:
        with override_settings(CHANNEL_LAYERS=private_redis.channel_layers()):
            inbox.start()
            assert inbox.wait_synced(timeout=20), (inbox.close_codes, server.output())
            notify(alice, title="live")
            wait_until(lambda: titles() == ["live"], timeout=20, what="the live notification reaching the callback")

            server.stop()
            notify(alice, title="while the server was down")
            # The first token is past its lifetime before the server is back: only a fresh one connects.
            first_dead = issued[0] + TOKEN_TTL + 1
            wait_until(lambda: time.monotonic() > first_dead, timeout=10, what="the first token expiring")
            server.resume()
            wait_until(lambda: inbox.connections >= 2, timeout=30, what=f"a reconnect (closes {inbox.close_codes})")
            wait_until(lambda: len(titles()) == 2, timeout=20, what="the missed notification through sync")
            notify(alice, title="after the reconnect")
            wait_until(lambda: len(titles()) == 3, timeout=20, what="live delivery on the new socket")
    finally:
        inbox.stop()
        server.stop()
    assert titles() == ["after the reconnect", "live", "while the server was down"]  # each once
    assert len(issued) >= 2
    assert not [code for code in inbox.close_codes if 4400 <= code < 4500]
