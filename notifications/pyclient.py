"""A Python client of the notifications protocol, run in a background thread.

Install it with the ``client`` extra (``pip install "django-live-notifications[client]"``);
it needs neither Django nor the site's code. It behaves like the browser
client: reconnects with capped, jittered backoff (never after a 44xx auth
close), asks ``token()`` for a fresh token before every connect (tokens are
short-lived), syncs from its cursor on every (re)connect, follows ``more``
pages, heartbeats (and reconnects when a ping goes unanswered), syncs again
when a ``pong`` shows it is behind or the server asks with ``resync``, and
hands each notification to ``on_notification`` once. The fault tests and the
chaos run (``bench/chaos.py``) use it to count what a page would show.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect

logger = logging.getLogger(__name__)

NotificationCallback = Callable[[dict[str, Any]], object]


class LiveInbox:
    """Follow one user's inbox over the socket; ``shown`` holds each notification id once.

    ``token`` is called before every connect for a token from the site's
    ``api/token/`` endpoint (sent as ``Authorization: Bearer``); ``headers``
    (a session cookie, say) are sent as given. ``on_notification`` runs in the
    client's thread for each notification the first time it arrives, live or by
    sync; an exception it raises is logged and does not stop the client. The
    heartbeat defaults match the browser client's: a ping every 25 s, a
    reconnect when no frame follows within 10 s.
    """

    def __init__(
        self,
        url: str,
        *,
        token: Callable[[], str] | None = None,
        headers: Mapping[str, str] | None = None,
        origin: str | None = None,
        on_notification: NotificationCallback | None = None,
        ping_interval: float = 25.0,
        pong_timeout: float = 10.0,
        max_backoff: float = 30.0,
        cursor: str | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.headers = dict(headers or {})
        self.origin = origin
        self.on_notification = on_notification
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.max_backoff = max_backoff
        self.shown: dict[int, dict[str, Any]] = {}
        self.frames_per_id: Counter[int] = Counter()  # raw arrivals, live and sync, before de-duplication
        self.via_sync: set[int] = set()  # ids first shown by a sync answer rather than live
        self.displayed: Counter[int] = Counter()  # times each id was put on the page (should be 1)
        self.unread_count: int | None = None
        self.close_codes: list[int] = []
        self.connections = 0
        self._synced = False  # the sync after the latest greeting has answered in full
        self._max_id = 0
        self._cursor = cursor  # where a previous page left off; None shows the current inbox
        self._ws: ClientConnection | None = None
        self._random = random.Random()  # its own: a client thread never moves the host's global random state
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="live-inbox", daemon=True)

    # --- control -----------------------------------------------------------------

    def start(self) -> LiveInbox:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._ws is not None:
            self._ws.close()
        self._thread.join(10)

    def __enter__(self) -> LiveInbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wait_for(self, ids: Iterable[int], timeout: float) -> bool:
        """Wait until every id is shown; False on timeout."""
        wanted = set(ids)
        with self._changed:
            return self._changed.wait_for(lambda: wanted <= self.shown.keys(), timeout)

    def wait_connected(self, count: int = 1, timeout: float = 10) -> bool:
        """Wait until the client has been greeted ``count`` times (1 = first connection)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.connections >= count, timeout)

    def wait_synced(self, timeout: float = 10) -> bool:
        """Wait until the client is greeted and its sync after that greeting has answered in full."""
        with self._changed:
            return self._changed.wait_for(lambda: self.connections >= 1 and self._synced, timeout)

    @property
    def duplicated_frames(self) -> int:
        return sum(n - 1 for n in self.frames_per_id.values() if n > 1)

    # --- the loop ----------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                with connect(
                    self.url,
                    additional_headers=self._handshake_headers(),
                    origin=self.origin,
                    open_timeout=5,
                    ping_interval=None,  # the protocol's own heartbeat (and pong_timeout) does this
                ) as ws:
                    self._ws = ws
                    attempt = 0
                    self._session(ws)
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else 1006
                self.close_codes.append(code)
                if 4400 <= code < 4500 and code != 4429:
                    return  # not signed in or forbidden: reconnecting cannot help
            except (OSError, InvalidHandshake, TimeoutError):
                pass  # refused, or cut mid-handshake (a server shutting down): try again
            except TokenUnavailable as failure:
                logger.warning("No token to connect with (%s); trying again", failure.__cause__)
            finally:
                self._ws = None
            attempt += 1
            self._stop.wait(self._random.uniform(0, min(self.max_backoff, 0.1 * 2**attempt)))

    def _handshake_headers(self) -> dict[str, str]:
        if self.token is None:
            return self.headers
        try:
            token = self.token()
        except Exception as failure:
            raise TokenUnavailable from failure
        return {**self.headers, "Authorization": f"Bearer {token}"}

    def _session(self, ws: ClientConnection) -> None:
        self._next_ping = time.monotonic() + self.ping_interval
        self._pong_deadline: float | None = None
        self._behind = False
        while not self._stop.is_set():
            wake = min(self._next_ping, self._pong_deadline or self._next_ping)
            try:
                text = ws.recv(timeout=max(0.01, wake - time.monotonic()))
            except TimeoutError:
                now = time.monotonic()
                if self._pong_deadline is not None and now >= self._pong_deadline:
                    ws.close(4000, "no heartbeat answer")  # a silent network: reconnect and sync
                    return
                if now >= self._next_ping:
                    self._ping(ws)
                continue
            self._pong_deadline = None  # the server is there
            self._handle(ws, json.loads(text))

    def _ping(self, ws: ClientConnection) -> None:
        ws.send(json.dumps({"type": "ping", "ref": int(time.time() * 1000)}))
        self._next_ping = time.monotonic() + self.ping_interval
        if self._pong_deadline is None:
            self._pong_deadline = time.monotonic() + self.pong_timeout

    def _handle(self, ws: ClientConnection, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "hello":
            self.unread_count = frame["unread_count"]
            self._synced = False
            self._sync(ws)
            with self._changed:
                self.connections += 1
                self._changed.notify_all()
        elif kind == "notification":
            self._show([frame["notification"]])
        elif kind == "sync":
            self._show(frame["notifications"], via_sync=True)
            if not frame["more"]:
                self._cursor = frame["cursor"] or self._cursor
                with self._changed:
                    self._synced = True
                    self._changed.notify_all()
            self.unread_count = frame["unread_count"]
            if frame["more"]:
                ws.send(json.dumps({"type": "sync", "cursor": frame["cursor"]}))
        elif kind == "pong":
            if "latest_cursor" not in frame:
                return  # answered without the server's database: nothing to compare
            latest = int(frame["latest_cursor"].split(".")[1]) if frame["latest_cursor"] else 0
            behind = latest > self._max_id or frame["unread_count"] != self.unread_count
            if behind and self._behind:
                self._sync(ws)  # still behind a moment later: something was dropped on the way
            elif behind:
                self._next_ping = time.monotonic() + min(self.ping_interval, 0.5)  # maybe only in flight: look again
            self._behind = behind and not self._behind
        elif kind == "resync":
            self._sync(ws)
        elif kind == "error" and frame.get("code") == "unavailable":
            self._behind = True  # the database did not answer a sync: the next behind pong syncs again
        elif kind in {"read_state", "ack"}:
            self.unread_count = frame["unread_count"]

    def _sync(self, ws: ClientConnection) -> None:
        ws.send(json.dumps({"type": "sync", "cursor": self._cursor}))

    def _show(self, notifications: list[dict[str, Any]], *, via_sync: bool = False) -> None:
        arrived = []
        with self._changed:
            for item in notifications:
                self.frames_per_id[item["id"]] += 1
                if item["id"] in self.shown:
                    continue
                arrived.append(item)
                self.shown[item["id"]] = item
                self.displayed[item["id"]] += 1
                if via_sync:
                    self.via_sync.add(item["id"])
                if not item["read"] and self.unread_count is not None:
                    self.unread_count += 1
                if item["id"] > self._max_id:
                    self._max_id = item["id"]
                    self._cursor = f"1.{item['id']}"
            self._changed.notify_all()
        if self.on_notification is not None:
            for item in arrived:
                try:
                    self.on_notification(item)
                except Exception:
                    logger.exception("on_notification failed for notification %s", item["id"])


class TokenUnavailable(Exception):
    """The ``token`` callback raised: the client waits and asks again."""
