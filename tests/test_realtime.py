"""The live push against a real Redis: one message per audience, and Redis outages."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from channels.layers import get_channel_layer
from django.db import transaction
from django.test import override_settings

from notifications import EVERYONE, group_names, notify, realtime
from notifications.group_names import layer_group
from notifications.models import Notification
from notifications.testing import RedisServer
from project.testing import project_env

pytestmark = pytest.mark.django_db(transaction=True)


def subscribe(group: str) -> str:
    """A channel on the current layer that belongs to ``group``."""

    async def join() -> str:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(layer_group(group), channel)
        return channel

    return asyncio.run(join())


def receive(channel: str, timeout: float = 5) -> dict:
    return asyncio.run(asyncio.wait_for(get_channel_layer().receive(channel), timeout))


def test_a_group_send_is_one_message_to_the_group(alice, bob, staff) -> None:
    channel = subscribe(group_names.auth_group(staff.pk))
    sent = notify(staff, title="Standup")
    event = receive(channel)
    assert event["type"] == realtime.FRAME_EVENT
    assert json.loads(event["frame"])["notification"]["id"] == sent.pk


def test_everyone_is_one_message_to_the_everyone_group(alice, carol) -> None:
    channel = subscribe(group_names.everyone())
    sent = notify(EVERYONE, title="All hands")
    assert json.loads(receive(channel)["frame"])["notification"]["id"] == sent.pk


def test_publish_waits_for_the_commit_and_drops_with_a_rollback(alice) -> None:
    channel = subscribe("bulletin")

    def failing_view() -> None:
        with transaction.atomic():
            realtime.publish(["bulletin"], '{"type": "news", "text": "rolled back"}')
            raise RuntimeError("the view failed")

    with pytest.raises(RuntimeError):
        failing_view()
    with transaction.atomic():
        realtime.publish(["bulletin"], '{"type": "news", "text": "committed"}')
    assert realtime.flush(timeout=10)
    # One group's pushes go out in order: had the rolled-back one been queued, it would come first.
    assert json.loads(receive(channel)["frame"])["text"] == "committed"


@pytest.fixture
def stopped_redis() -> Iterator[RedisServer]:
    """A private Redis that is not running (started, then stopped for real)."""
    server = RedisServer.private()
    server.stop()
    yield server
    server.close()


def test_notify_succeeds_while_redis_is_down_and_pushes_again_once_it_is_back(
    alice, stopped_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(CHANNEL_LAYERS=stopped_redis.channel_layers()):
        with caplog.at_level(logging.WARNING, logger="notifications"):
            sent = notify(alice, title="While Redis is down")
            assert realtime.flush(timeout=10)
        assert Notification.objects.filter(pk=sent.pk).exists()
        assert "Live push to 1 group(s) failed" in caplog.text

        stopped_redis.resume()
        channel = subscribe(group_names.user(alice.pk))
        again = notify(alice, title="Redis is back")
        assert json.loads(receive(channel)["frame"])["notification"]["id"] == again.pk


@pytest.fixture
def unresponsive_redis() -> Iterator[str]:
    """A TCP server that accepts connections and never answers (a hung Redis)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_notify_returns_promptly_when_redis_hangs(alice, unresponsive_redis: str, caplog) -> None:
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": unresponsive_redis, "socket_timeout": 30}]},
        }
    }
    with override_settings(CHANNEL_LAYERS=layers, NOTIFICATIONS={"PUSH_TIMEOUT": 0.3}):
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="notifications"):
            sent = [notify(alice, title=f"Redis hangs {i}") for i in range(3)]
            returned = time.monotonic() - started
            # The push gives up after PUSH_TIMEOUT instead of the socket's 30 s; the two queued
            # behind it are dropped at once rather than each waiting out the same hang.
            assert realtime.flush(timeout=10)
        given_up = time.monotonic() - started
    assert Notification.objects.filter(pk__in=[n.pk for n in sent]).count() == 3
    assert "Live push to 1 group(s) failed" in caplog.text
    assert "Dropped 2 queued live push(es)" in caplog.text
    # Bounds, not a benchmark: without the queue and the timeout these would take 30 s or more.
    assert returned < 5
    assert given_up < 5


def test_a_short_lived_process_flushes_its_queued_push_before_it_exits(alice, redis_server: RedisServer) -> None:
    """`manage.py notify` (or a cron job) exits right after notify(): the queued push must still go out."""
    channel = subscribe(group_names.user(alice.pk))
    subprocess.run(
        [sys.executable, "manage.py", "notify", "--user", "alice", "--title", "From cron"],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, **project_env(redis_server)},
        check=True,
        capture_output=True,
        timeout=60,
    )
    event = receive(channel)
    while event["type"] != realtime.FRAME_EVENT:  # e.g. the control event of alice's group change
        event = receive(channel)
    assert json.loads(event["frame"])["notification"]["title"] == "From cron"


def test_a_burst_of_pushes_arrives_in_order_per_recipient(alice, bob) -> None:
    """Queued pushes go out concurrently, but never overtake an earlier one to the same group."""
    alice_channel = subscribe(group_names.user(alice.pk))
    bob_channel = subscribe(group_names.user(bob.pk))
    sent = {alice.pk: [], bob.pk: []}
    for i in range(60):
        user = alice if i % 3 else bob
        sent[user.pk].append(notify(user, title=f"burst {i}").pk)
    assert realtime.flush(timeout=10)

    def received(channel: str, count: int) -> list[int]:
        ids = []
        while len(ids) < count:
            event = receive(channel)
            if event["type"] == realtime.FRAME_EVENT:
                ids.append(json.loads(event["frame"])["notification"]["id"])
        return ids

    assert received(alice_channel, len(sent[alice.pk])) == sent[alice.pk]
    assert received(bob_channel, len(sent[bob.pk])) == sent[bob.pk]
