"""REDIS_LAYER=pubsub: the same live path on channels-redis's pub/sub layer, through real Daphne processes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.test import override_settings

from notifications import EVERYONE, is_connected, notify
from notifications.testing import DaphneServer, RedisServer, open_socket, receive_frame
from project.testing import project_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pubsub_servers(private_redis: RedisServer) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    """Two Daphne processes on the pub/sub layer of one Redis; this process sends through it too."""
    env = project_env(private_redis, REDIS_LAYER="pubsub", NOTIFICATIONS_JSON=json.dumps({"PUSH_TIMEOUT": 2}))
    first, second = DaphneServer.start(env=env), DaphneServer.start(env=env)
    with override_settings(CHANNEL_LAYERS=private_redis.channel_layers(layer="pubsub")):
        yield first, second
    first.stop()
    second.stop()


def test_targeted_group_and_everyone_sends_arrive_on_both_processes(pubsub_servers, alice, bob, staff) -> None:
    first, second = pubsub_servers
    with open_socket(first, alice) as alice_ws, open_socket(second, bob) as bob_ws:
        receive_frame(alice_ws, "hello")
        receive_frame(bob_ws, "hello")
        notify(alice, title="Only Alice")
        notify(staff, title="Staff")
        notify(EVERYONE, title="Everyone")
        # In order per audience; a user's own and a group's sends may interleave either way.
        assert sorted(receive_frame(alice_ws, "notification")["notification"]["title"] for _ in range(3)) == [
            "Everyone",
            "Only Alice",
            "Staff",
        ]
        assert sorted(receive_frame(bob_ws, "notification")["notification"]["title"] for _ in range(2)) == [
            "Everyone",
            "Staff",
        ]


def test_connection_state_is_shared_through_the_same_redis(pubsub_servers, alice, bob) -> None:
    first, _ = pubsub_servers
    with open_socket(first, alice) as ws:
        receive_frame(ws, "hello")
        assert is_connected(alice)
        assert not is_connected(bob)
