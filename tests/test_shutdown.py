"""Server restarts: pages see 1001 on a graceful shutdown, and no restart locks a person's tabs out."""

from __future__ import annotations

import time

import pytest
import redis

from notifications.testing import DaphneServer, RedisServer, closed_with, open_socket, receive_frame, refused_with
from tests.conftest import start_daphne

pytestmark = pytest.mark.django_db(transaction=True)

TABS = 3


@pytest.fixture
def limited_daphne(redis_server: RedisServer) -> DaphneServer:
    server = start_daphne(redis_server, notifications={"MAX_CONNECTIONS_PER_USER": TABS})
    yield server
    server.stop()


def keys_of_this_run(redis_server: RedisServer, part: str) -> list[bytes]:
    client = redis.Redis.from_url(redis_server.url)
    try:
        return [key for key in client.scan_iter(f"{redis_server.prefix}*{part}*") if client.zcard(key)]
    finally:
        client.close()


def test_a_graceful_shutdown_sends_1001_and_leaves_nothing_behind(
    limited_daphne: DaphneServer, redis_server: RedisServer, alice
) -> None:
    with open_socket(limited_daphne, alice) as first, open_socket(limited_daphne, alice) as second:
        receive_frame(first, "hello")
        receive_frame(second, "hello")
        assert keys_of_this_run(redis_server, f"sockets:{alice.pk}")
        limited_daphne.stop()  # SIGTERM
        assert closed_with(first, timeout=15) == 1001
        assert closed_with(second, timeout=15) == 1001
    assert keys_of_this_run(redis_server, f"sockets:{alice.pk}") == []  # the count is left at once
    assert keys_of_this_run(redis_server, f"user.{alice.pk}") == []  # and so are the group memberships


def open_all_tabs(server: DaphneServer, user, *, within: float) -> list:
    """TABS greeted sockets for ``user``; a tab refused with 4409 tries again until ``within`` runs out."""
    deadline = time.monotonic() + within
    tabs = []
    while len(tabs) < TABS:
        context = open_socket(server, user)
        refused = refused_with(context.__enter__())
        if refused is None:
            tabs.append(context)
            continue
        context.__exit__(None, None, None)
        assert refused == 4409
        assert time.monotonic() < deadline, "tabs still refused with 4409 after the old process died"
        time.sleep(0.5)  # the next try, as the bundled client would (later)
    return tabs


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_every_tab_gets_back_in_after_a_restart(limited_daphne: DaphneServer, alice, how) -> None:
    tabs = open_all_tabs(limited_daphne, alice, within=10)
    limited_daphne.stop(kill=how == "SIGKILL")
    for tab in tabs:
        tab.__exit__(None, None, None)
    limited_daphne.resume()
    # SIGTERM cleans up at once; after SIGKILL the dead process's sockets stop counting once
    # its alive key expires (connections.ALIVE_TTL, 15 s), not after SOCKET_TTL (90 s).
    tabs = open_all_tabs(limited_daphne, alice, within=1 if how == "SIGTERM" else 25)
    for tab in tabs:
        tab.__exit__(None, None, None)
