"""The database goes away (connections refused, open ones cut) and comes back, under a real Daphne.

PostgreSQL is reached through a loopback TCP proxy (bench/delayproxy.py) that the test
kills and restarts: the outage is real, at the network level, for Daphne only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from notifications import notify
from notifications.testing import (
    DaphneServer,
    RedisServer,
    database_url,
    free_port,
    open_socket,
    port_open,
    receive_frame,
    refused_with,
    wait_until,
)
from tests import REPO_DIR
from tests.conftest import start_daphne

pytestmark = pytest.mark.django_db(transaction=True)


class DatabaseLink:
    """A TCP proxy to the test database, which the test can cut and restore."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target_host, self.target_port = parts.hostname or "127.0.0.1", parts.port or 5432
        self.port = free_port()
        self.url = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{self.port}"))
        self.process: subprocess.Popen[bytes] | None = None
        self.restore()

    def restore(self) -> None:
        args = [str(self.port), self.target_host, str(self.target_port), "0"]
        self.process = subprocess.Popen([sys.executable, "bench/delayproxy.py", *args], cwd=REPO_DIR)
        wait_until(lambda: port_open(self.port), timeout=10, what="the database proxy")

    def cut(self) -> None:
        """Connections refused from now on, and every open one reset."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def outage_stack(redis_server: RedisServer) -> Iterator[tuple[DaphneServer, DatabaseLink]]:
    if connection.vendor != "postgresql":
        pytest.skip("the outage is caused between Daphne and PostgreSQL (CI runs the suite on it too)")
    link = DatabaseLink(database_url(connection.settings_dict))
    server = start_daphne(redis_server, env={"DATABASE_URL": link.url})
    yield server, link
    server.stop()
    link.cut()


def healthz(server: DaphneServer) -> tuple[int, dict, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(server.origin + "/notifications/healthz", timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    return status, json.loads(body), time.monotonic() - started


def close_code_of_new_socket(server: DaphneServer, user) -> int | None:
    """A new handshake: None when greeted, else the close code (a 500 would raise InvalidStatus)."""
    with open_socket(server, user) as ws:
        return refused_with(ws, timeout=15)


def test_a_database_outage_answers_retryable_errors_fast_and_recovers(outage_stack, alice) -> None:
    server, link = outage_stack
    with open_socket(server, alice) as ws:
        receive_frame(ws, "hello")
        assert healthz(server)[0] == 200
        link.cut()

        status, body, took = healthz(server)
        assert status == 503
        assert body["database"].startswith("error")
        assert body["channel_layer"] == "ok"
        assert took < 5

        started = time.monotonic()
        assert close_code_of_new_socket(server, alice) == 4503  # retryable, not HTTP 500 nor a hang
        assert time.monotonic() - started < 10

        ws.send(json.dumps({"type": "sync", "cursor": None, "ref": "during"}))
        error = receive_frame(ws, "error", timeout=15)
        assert (error["code"], error["ref"]) == ("unavailable", "during")
        started = time.monotonic()
        ws.send(json.dumps({"type": "ping", "ref": "alive"}))
        assert receive_frame(ws, "pong")["ref"] == "alive"  # the socket stays, and pings do not wait
        assert time.monotonic() - started < 3

        link.restore()
        wait_until(lambda: healthz(server)[0] == 200, timeout=30, what="/notifications/healthz to recover")
        ws.send(json.dumps({"type": "sync", "cursor": None, "ref": "after"}))
        assert receive_frame(ws, "sync")["ref"] == "after"
        sent = notify(alice, title="after the outage")
        assert receive_frame(ws, "notification")["notification"]["id"] == sent.pk
    assert close_code_of_new_socket(server, alice) is None
