"""Thousands of random frames through a real connection: every one gets an answer, none crashes the
server, and the connection keeps working; plus isolation as a property over random audiences."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group, User
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications import EVERYONE, notify
from notifications.models import Delivery
from notifications.pyclient import LiveInbox
from notifications.testing import DaphneServer, open_socket, receive_frame, session_cookie
from tests import FAST_CLIENT
from tests.conftest import start_daphne

pytestmark = pytest.mark.django_db(transaction=True)

TYPES = ["ping", "sync", "mark_read", "mark_unread", "mark_all_read", "handshake", "hello", "error", "", "x" * 50]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
frames = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(TYPES)},
        optional={"ref": values, "id": values, "ids": values, "up_to": values, "cursor": values, "continue": values},
    ).map(lambda frame: json.dumps(frame)),
    st.dictionaries(st.text(max_size=10), values, max_size=5).map(json.dumps),
    st.text(max_size=300),
    st.binary(max_size=200),
)


@pytest.fixture
def fuzz_server(private_redis) -> Iterator[DaphneServer]:
    """A Daphne of its own (its log is checked) with a rate limit that lets a fuzzer through."""
    server = start_daphne(
        private_redis, notifications={"RATE_LIMIT": {"RATE": 100000, "BURST": 100000, "CLOSE_AFTER": 1}}
    )
    yield server
    server.stop()


def test_random_frames_never_crash_the_server_or_drop_the_connection(fuzz_server, alice) -> None:
    notify(alice, title="something to mark")
    with open_socket(fuzz_server, alice) as ws:
        receive_frame(ws, "hello")
        counter = iter(range(10**9))

        @settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(frame=frames)
        def send_one(frame: str | bytes) -> None:
            ws.send(frame)
            marker = f"alive-{next(counter)}"
            ws.send(json.dumps({"type": "ping", "ref": marker}))
            answers = []
            while True:
                answer = json.loads(ws.recv(timeout=10))
                if answer.get("type") == "pong" and answer.get("ref") == marker:
                    break
                answers.append(answer)
            # The random frame was answered (a pong, ack, sync, handshake or a clear error) before the marker.
            assert answers, f"no answer to {frame!r}"
            for answer in answers:
                if answer["type"] == "error":
                    assert answer["code"]
                    assert answer["message"]

        send_one()
    log = fuzz_server.output()
    assert "Exception inside application" not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_socket_receives_exactly_what_its_user_should(daphne: DaphneServer, seed: int) -> None:
    """Many users in overlapping groups, random sends: each page shows exactly its user's share."""
    rng = random.Random(seed)
    groups = [Group.objects.create(name=f"g{i}") for i in range(4)]
    users = [User.objects.create_user(f"u{i}") for i in range(8)]
    members: dict[int, set[int]] = {}
    for user in users:
        chosen = rng.sample(groups, rng.randint(0, 3))
        user.groups.set(chosen)
        members[user.pk] = {g.pk for g in chosen}
    clients = {
        user.pk: LiveInbox(
            daphne.ws_url(), headers={"Cookie": session_cookie(user)}, origin=daphne.origin, **FAST_CLIENT
        ).start()
        for user in users
    }
    try:
        for inbox in clients.values():
            assert inbox.wait_connected()
        expected: dict[int, set[int]] = {user.pk: set() for user in users}
        for _ in range(40):
            kind = rng.choice(["user", "users", "group", "everyone"])
            if kind == "user":
                target = rng.choice(users)
                expected[target.pk].add(notify(target, title="one").pk)
            elif kind == "users":
                chosen = rng.sample(users, 3)
                sent = notify(chosen, title="some").pk
                for user in chosen:
                    expected[user.pk].add(sent)
            elif kind == "group":
                group = rng.choice(groups)
                sent = notify(group, title="group").pk
                for user in users:
                    if group.pk in members[user.pk]:
                        expected[user.pk].add(sent)
            else:
                sent = notify(EVERYONE, title="all").pk
                for user in users:
                    expected[user.pk].add(sent)
        for user in users:
            # The plan agrees with the database, and each page shows exactly that, once. A last
            # notification of its own, sent after everything else, shows nothing else came late.
            stored = set(Delivery.objects.filter(user=user).values_list("notification_id", flat=True))
            assert stored == expected[user.pk]
            expected[user.pk].add(notify(user, title="last").pk)
        for user in users:
            assert clients[user.pk].wait_for(expected[user.pk], timeout=15)
            assert set(clients[user.pk].shown) == expected[user.pk]
            assert max(clients[user.pk].displayed.values()) == 1
    finally:
        for inbox in clients.values():
            inbox.stop()
