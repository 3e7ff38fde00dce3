"""Delivery guarantees under faults caused for real: Redis stopped, bursts over capacity,
Daphne killed, two Daphne processes, the database locked. Each uses its own Redis and Daphne."""

from __future__ import annotations

import base64
import contextlib
import http.cookiejar
import logging
import os
import re
import socket
import sqlite3
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import override_settings
from redis import Redis

from notifications import notify, realtime
from notifications.exceptions import NotificationNotStored
from notifications.models import Notification
from notifications.pyclient import LiveInbox
from notifications.testing import DaphneServer, RedisServer, open_socket, receive_frame, session_cookie, wait_until
from tests import FAST_CLIENT
from tests.conftest import start_daphne

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stack(private_redis: RedisServer) -> Iterator[tuple[RedisServer, DaphneServer]]:
    """A Redis and a Daphne of this test's own; the test process sends through the same Redis."""
    server = start_daphne(private_redis)
    with override_settings(CHANNEL_LAYERS=private_redis.channel_layers(), NOTIFICATIONS={"PUSH_TIMEOUT": 0.5}):
        yield private_redis, server
    server.stop()


def inbox_for(server: DaphneServer, user: User) -> LiveInbox:
    inbox = LiveInbox(
        server.ws_url(), headers={"Cookie": session_cookie(user)}, origin=server.origin, **FAST_CLIENT
    ).start()
    # Caught up, not only greeted: a first sync answered after a burst would be a reset to the
    # newest page, which rightly does not bring older notifications in as arrivals.
    assert inbox.wait_synced(timeout=10), server.output()
    return inbox


def test_redis_stopped_while_sending_then_everything_arrives_on_the_same_socket(stack, alice, caplog) -> None:
    redis, server = stack
    inbox = inbox_for(server, alice)
    try:
        redis.stop()
        with caplog.at_level(logging.WARNING, logger="notifications"):
            during = [notify(alice, title=f"during outage {i}").pk for i in range(5)]
            assert realtime.flush(timeout=30)  # the pushes are queued: wait until they have failed
        assert Notification.objects.filter(pk__in=during).count() == 5
        assert "Live push to 1 group(s) failed" in caplog.text
        redis.resume()
        assert inbox.wait_for(during, timeout=30), server.output()
        # The consumer re-joined its groups: live delivery works again, on the same socket.
        after = notify(alice, title="after the outage").pk
        assert inbox.wait_for([after], timeout=15)
        assert inbox.connections == 1
        assert len(inbox.shown) == 6
    finally:
        inbox.stop()


def test_redis_forgetting_the_groups_without_dropping_connections_is_noticed(stack, alice) -> None:
    # A restart or failover faster than the connections noticed, or a flush: Redis
    # answers as before but has forgotten every group. Heartbeats notice the loss.
    redis, server = stack
    inbox = inbox_for(server, alice)
    try:
        Redis.from_url(redis.url).flushall()
        deadline = time.monotonic() + 10
        while True:  # until a notification arrives live again (the page catches up on the rest)
            sent = notify(alice, title="after the flush").pk
            assert inbox.wait_for([sent], timeout=5), server.output()
            if sent not in inbox.via_sync:
                break
            assert time.monotonic() < deadline, "live delivery did not resume after Redis lost the groups"
        assert "Redis lost this process's group memberships" in server.output()
        assert inbox.connections == 1
    finally:
        inbox.stop()


def test_burst_over_channel_capacity_is_recovered_through_sync(stack, alice) -> None:
    """The server stalls while 250 notifications arrive: over the layer's capacity of 100, the rest drop."""
    _redis, server = stack
    inbox = inbox_for(server, alice)
    try:
        server.freeze()
        try:
            burst = [notify(alice, title=f"burst {i}").pk for i in range(250)]
            assert realtime.flush(timeout=30)  # every push reaches Redis while the server is stopped
        finally:
            server.thaw()
        assert inbox.wait_for(burst, timeout=60), f"{len(inbox.shown)} of 250 shown"
        assert sorted(inbox.shown) == burst
        # Live messages were dropped for real (capacity 100), and sync brought them.
        assert len(inbox.via_sync) >= 150 - 5
        assert inbox.connections == 1
        assert inbox.unread_count == 250
    finally:
        inbox.stop()


def process_queue_length(redis: RedisServer) -> int:
    """Messages waiting in Redis for the server processes (their "specific.*!" sorted sets)."""
    client = Redis.from_url(redis.url)
    try:
        return sum(client.zcard(key) for key in client.scan_iter(f"{redis.prefix}specific.*!"))
    finally:
        client.close()


def test_messages_dropped_over_capacity_make_the_server_send_resync_at_once(stack, alice) -> None:
    """The sender's numbering per group shows the gap at the next message: no waiting for a heartbeat."""
    redis, server = stack
    with open_socket(server, alice) as ws:
        receive_frame(ws, "hello")
        server.freeze()
        try:
            burst = [notify(alice, title=f"burst {i}").pk for i in range(150)]
            assert realtime.flush(timeout=30)  # 100 fit the process channel; the sender drops 50
        finally:
            server.thaw()
        # Sent once the server has taken the burst from Redis: into a full channel it would drop too.
        wait_until(lambda: process_queue_length(redis) == 0, timeout=30, what="the server to drain its queue")
        after = notify(alice, title="after the burst").pk
        frames = [receive_frame(ws)]
        while frames[-1]["type"] != "resync":  # we send no ping: only the server can say it
            frames.append(receive_frame(ws))
        live = [frame["notification"]["id"] for frame in frames if frame["type"] == "notification"]
        assert 100 <= len(live) < 150  # the process channel's 100 (and one already taken), not the rest
        assert live == burst[: len(live)]
        assert receive_frame(ws, "notification")["notification"]["id"] == after
    assert "were lost on the way" in server.output()


def test_daphne_killed_and_restarted_clients_get_what_was_sent_meanwhile_once(stack, alice) -> None:
    _redis, server = stack
    inbox = inbox_for(server, alice)
    try:
        before = notify(alice, title="before the crash").pk
        assert inbox.wait_for([before], timeout=10)
        server.stop(kill=True)
        meanwhile = [notify(alice, title=f"while down {i}").pk for i in range(3)]
        server.resume()
        assert inbox.wait_for(meanwhile, timeout=30), server.output()
        assert inbox.wait_connected(2)
        assert sorted(inbox.shown) == [before, *meanwhile]
    finally:
        inbox.stop()


def test_two_daphne_processes_share_delivery(stack, alice) -> None:
    redis, server_a = stack
    server_b = start_daphne(redis)
    admin = User.objects.create_superuser("root", password="pw")
    inbox = inbox_for(server_a, alice)
    try:
        from_here = notify(alice, title="from the test process").pk
        command = server_b.manage("notify", "--user", "alice", "--title", "from a command")
        assert command.returncode == 0, command.stderr
        admin_post_compose(server_b, admin, alice, title="from the admin on process B")
        titles = {"from the test process", "from a command", "from the admin on process B"}
        sent = list(Notification.objects.filter(title__in=titles).values_list("pk", flat=True))
        assert len(sent) == 3
        assert from_here in sent
        assert inbox.wait_for(sent, timeout=15)
    finally:
        inbox.stop()
        server_b.stop()


def admin_post_compose(server: DaphneServer, admin: User, recipient: User, *, title: str) -> None:
    """Send through the admin composer of a running server, as a browser would."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    cookie = session_cookie(admin)
    url = f"{server.origin}/admin/live_notifications/notification/add/"
    page = opener.open(urllib.request.Request(url, headers={"Cookie": cookie})).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    csrf_cookie = next(c.value for c in jar if c.name == "csrftoken")
    form = {"csrfmiddlewaretoken": token, "audience": "users", "users": recipient.pk, "title": title, "level": "info"}
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"Cookie": f"{cookie}; csrftoken={csrf_cookie}", "Referer": url, "Origin": server.origin},
    )
    # Saving redirects to the sent notification's page.
    assert f"<title>{title} | View notification" in opener.open(request).read().decode()


@contextlib.contextmanager
def write_lock_held_elsewhere() -> Iterator[None]:
    """Another connection holds a write lock on the notifications table; ours gives up quickly."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        other = sqlite3.connect(settings_dict["NAME"], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        connection.close()
        options = settings_dict["OPTIONS"]
        saved, options["timeout"] = options["timeout"], 0.2
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
            connection.close()
            options["timeout"] = saved
        return
    other = psycopg.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"],
        host=settings_dict["HOST"] or None,
        port=settings_dict["PORT"] or None,
        autocommit=False,
    )
    other.execute(f"LOCK TABLE {Notification._meta.db_table} IN ACCESS EXCLUSIVE MODE")
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '200ms'")
    try:
        yield
    finally:
        other.rollback()
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")


def test_locked_database_gives_a_clear_error_and_pushes_nothing(daphne, alice) -> None:
    inbox = inbox_for(daphne, alice)
    try:
        with write_lock_held_elsewhere(), pytest.raises(NotificationNotStored, match="not stored"):
            notify(alice, title="while locked")
        assert not Notification.objects.filter(title="while locked").exists()
        after = notify(alice, title="after the lock").pk
        assert inbox.wait_for([after], timeout=10)
        assert [n["title"] for n in inbox.shown.values()] == ["after the lock"]
    finally:
        inbox.stop()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def open_raw_socket_that_never_reads(server: DaphneServer, user: User) -> socket.socket:
    """A WebSocket handshake on a socket with a tiny receive buffer, then no reading at all."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/notifications/ HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {server.origin}\r\nCookie: {session_cookie(user)}\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def test_a_client_that_stops_reading_is_cut_off_and_loses_nothing(stack, alice) -> None:
    _redis, server = stack
    before = notify(alice, title="before").pk
    slow = open_raw_socket_that_never_reads(server, alice)
    try:
        baseline = rss_bytes(server.process.pid)
        body = "x" * 10_000
        burst, peak = [], baseline
        for i in range(2400):  # 24 MB of frames for a socket that reads none of them
            burst.append(notify(alice, title=f"big {i}", body=body).pk)
            if i % 100 == 0:
                peak = max(peak, rss_bytes(server.process.pid))
        # The server closed the socket once it was 4 MiB behind, instead of buffering 24 MB
        # (its close frame, 4013, cannot reach a client that does not read: the connection
        # is dropped). Reading now finds the end within the timeout.
        slow.settimeout(10)
        with contextlib.suppress(ConnectionResetError):
            while slow.recv(1 << 16):
                pass
        assert peak - baseline < 12 * 1024 * 1024, f"server grew by {(peak - baseline) >> 20} MiB"
    finally:
        slow.close()
    # The page reconnects from where it was and syncs everything it missed.
    inbox = LiveInbox(
        server.ws_url(),
        headers={"Cookie": session_cookie(alice)},
        origin=server.origin,
        cursor=f"1.{before}",
        **FAST_CLIENT,
    ).start()
    try:
        assert inbox.wait_for(burst, timeout=60), f"{len(inbox.shown)} shown, closes {inbox.close_codes}"
    finally:
        inbox.stop()
