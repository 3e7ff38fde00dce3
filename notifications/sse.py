"""The notifications stream over Server-Sent Events, for networks where WebSocket upgrades are blocked.

``GET <prefix>/stream/`` answers ``text/event-stream`` carrying the frames the
socket carries (docs/protocol.md), one JSON frame per ``data:`` line: ``hello``,
then ``notification``, ``read_state``, ``retracted``, ``resync``, topics'
frames. The stream opens with ``hello`` and the ``sync`` pages a page would
ask for: everything after the cursor, which is the ``Last-Event-ID`` a
reconnecting ``EventSource`` sends (each notification's event ``id`` is its
sync cursor) or ``?cursor=``; without one, the current inbox (a reset).
Nothing lost, and the client shows each id once. A comment line every ``SSE_HEARTBEAT`` seconds
keeps proxies from closing it and refreshes the connection's count and login
check. It is one ``Subscriber`` of the process's fan-out (subscriber.py) with
the WebSocket's connection state (connection_state.py): the same login, origin
and per-user limits, the same groups, the same control events. The stream ends
with an ``event: close`` naming the close code a socket would have got.
The page's topic requests come over HTTP (``send_page_frame``, from
``POST <prefix>/stream/send/`` naming the key its hello gave) through the
channel layer to whichever process holds the stream, and are answered on it.
``GET <prefix>/poll/`` is the same connection for one long-poll round, for
proxies that buffer or cut streams.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from notifications import connections, fanout, group_names, protocol, realtime, services, topics
from notifications.conf import app_settings
from notifications.connection_state import ConnectionState
from notifications.db import concurrent_read
from notifications.exceptions import InvalidQuery
from notifications.protocol import CloseCode
from notifications.ratelimit import TokenBucket
from notifications.responses import JsonResponse
from notifications.security import header, origin_allowed

logger = logging.getLogger(__name__)

# A notification frame's id, read off its encoded text (protocol.notification_frame: the id comes first).
NOTIFICATION_ID = re.compile(r'\{"type":"notification",(?:"v":\d+,)?"notification":\{"id":(\d+)[,}]')

# Frames waiting for a slow reader before the stream is ended (it reconnects and syncs).
QUEUE_FRAMES = 1000

# The channel-layer event carrying a frame the stream's page sent over HTTP (``POST <prefix>/stream/send/``).
PAGE_FRAME_EVENT = "notifications.page_frame"
# The frames a page may send that way (mark read and sync have JSON API endpoints of their own).
PAGE_FRAME_TYPES = frozenset({"subscribe", "unsubscribe"})
STREAM_KEY = re.compile(r"[A-Za-z0-9_-]{1,32}")


def send_page_frame(user: Any, stream_key: Any, frame: Any) -> None:
    """Pass a frame a page sent over HTTP to its open event stream, in whichever process holds it.

    The stream answers on itself (``subscribed``, or an ``error`` with the frame's ``ref``).
    Only the user's own streams can be named: the key is looked up under their id.
    """
    if not isinstance(stream_key, str) or not STREAM_KEY.fullmatch(stream_key):
        raise InvalidQuery("'stream' must be the key from the stream's hello.")
    if not isinstance(frame, dict) or frame.get("type") not in PAGE_FRAME_TYPES:
        raise InvalidQuery("'frame' must be a subscribe or unsubscribe frame.")
    text = protocol.encode(frame)
    if len(text.encode()) > app_settings.MAX_FRAME_BYTES:
        raise InvalidQuery(f"'frame' must be at most {app_settings.MAX_FRAME_BYTES} bytes.")
    realtime.publish_event([group_names.event_stream(user.pk, stream_key)], {"type": PAGE_FRAME_EVENT, "frame": text})


class EventStream(ConnectionState):
    """One open event stream: a fan-out Subscriber writing frames into a queue the response drains."""

    groups: list[str] = []

    def __init__(self, request: HttpRequest, *, streaming: bool) -> None:
        # The request's session (Django's middleware puts it on the request, not in the ASGI scope):
        # the stream joins its group, so a logout ends the stream, and its login is re-checked.
        self.scope = {**request.scope, "session": getattr(request, "session", None)}  # type: ignore[attr-defined]
        self.user = request.user
        self.channel_name = connections.socket_name()
        self._hub = fanout.hub(realtime.layer())
        self._queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue(QUEUE_FRAMES)
        self._closed = False
        self._live = False  # hello and the opening sync are queued: live frames may follow
        self._early: list[str] = []  # live frames that came while open() was still queuing those
        self.caught_up = False  # the opening sync found nothing after the client's cursor
        self.opening_frames = 0  # hello and the sync pages, queued by open()
        # A stream (not a long-poll round, too short-lived to hold a topic) names a key in its hello:
        # the page's requests (POST <prefix>/stream/send/) address the stream by it.
        self.key = secrets.token_urlsafe(12) if streaming else None
        limit = app_settings.RATE_LIMIT
        self._page_frames = TokenBucket(limit["RATE"], limit["BURST"])  # the socket's frame rate, for those
        self.subscriptions: dict[str, tuple[topics.Topic, dict[str, Any]]] = {}  # group -> (topic, params)
        self.open_connection_state()

    async def get_groups(self) -> list[str]:
        return await concurrent_read(services.audience_groups)(self.user)

    # --- Subscriber --------------------------------------------------------------------

    async def deliver_frame(self, frame: str) -> None:
        self._put(frame)

    async def deliver_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == realtime.CONTROL_EVENT:
            await self.notifications_control(event)
        elif event.get("type") == PAGE_FRAME_EVENT and not self._closed and not self._queue.full():
            # Handled in the stream's own task (events()), where the topic hooks' sync_to_async
            # calls have the request's context, not in the fan-out's.
            self._queue.put_nowait(("page_frame", event["frame"]))

    async def send_frame(self, frame: dict[str, Any]) -> None:
        """A frame for this stream alone (topics' answers and snapshots)."""
        self._put(protocol.encode(frame))

    async def _page_frame(self, text: str) -> None:
        """A subscribe or unsubscribe the page sent over HTTP, handled as the socket handles it."""
        try:
            message = protocol.parse_client_frame(text, None)
            if not self._page_frames.take():
                raise protocol.ProtocolError("rate_limited", "Too many frames; slow down.", ref=message.ref)
            if message.type == "subscribe":
                await topics.subscribe(self, message)
            elif message.type == "unsubscribe":
                await topics.unsubscribe(self, message)
        except protocol.ProtocolError as error:
            self._put(error.frame())

    async def on_layer_recovered(self) -> None:
        self._put(protocol.resync_frame("channel_layer_recovered"))

    async def close(self, code: int, reason: str = "") -> None:
        """End the stream with a ``close`` event (the code and reason a socket would have got)."""
        self._end(code, reason)

    def _end(self, code: int, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        if self._queue.full():
            self._queue.get_nowait()  # a slow reader's oldest frame gives way to the close
        self._queue.put_nowait(("close", json.dumps({"code": code, "reason": reason})))

    def _put(self, frame: str) -> None:
        if self._closed:
            return
        if not self._live:  # frames come after hello and the opening sync (the client de-duplicates)
            self._early.append(frame)
            return
        if self._queue.qsize() >= QUEUE_FRAMES - 1:  # room kept for the close
            logger.info("Ending an event stream %d frames behind (user %s)", QUEUE_FRAMES, self.user.pk)
            self._end(int(CloseCode.TOO_FAR_BEHIND), "too far behind; reconnect")
            return
        self._queue.put_nowait(("message", frame))

    # --- the stream ----------------------------------------------------------------------

    async def open(self, cursor: str | None) -> str | None:
        """Count the connection in and join its groups; an error message when it must be refused."""
        if not await self._count_connection_in():
            return "too many open connections"
        self.personal_groups = self._personal_groups()
        if self.key is not None:
            self.personal_groups.append(group_names.event_stream(self.user.pk, self.key))
        await asyncio.gather(
            *(self._hub.add(group, self) for group in self.personal_groups),
            *(self.join_group(group) for group in await self._wanted_groups()),
        )
        unread = await concurrent_read(services.unread_count)(self.user)
        self._queue.put_nowait(("message", protocol.hello_frame(**self._greeting(unread))))
        await self._sync_from(cursor)  # None: the current inbox (a reset), as a page's first sync
        self._live = True
        for frame in self._early:
            self._put(frame)
        self._early.clear()
        return None

    def _greeting(self, unread: int) -> dict[str, Any]:
        return {
            "user_id": self.user.pk,
            "username": self.user.get_username(),
            "unread_count": unread,
            "stream": self.key,
        }

    async def _sync_from(self, cursor: str | None) -> None:
        """Everything after ``cursor``, page by page, before any live frame is read."""
        asked = cursor
        self.opening_frames = 1  # the hello
        while True:
            result = await concurrent_read(services.sync)(self.user, cursor)
            self._queue.put_nowait(("message", protocol.sync_answer(None, result)))
            self.opening_frames += 1
            if not result.more or result.cursor is None:
                self.caught_up = asked is not None and result.cursor == asked  # nothing after the cursor
                return
            cursor = result.cursor

    async def events(self) -> AsyncIterator[str]:
        heartbeat = float(app_settings.SSE_HEARTBEAT)
        yield f"retry: {int(app_settings.SSE_RETRY_MS)}\n\n"
        try:
            while True:
                try:
                    item = await asyncio.wait_for(self._queue.get(), heartbeat)
                except TimeoutError:
                    await self._heartbeat()
                    yield ": keep-alive\n\n"
                    continue
                if item is None:
                    return
                kind, data = item
                if kind == "page_frame":
                    await self._page_frame(data)
                    continue
                yield _event(kind, data)
                if kind == "close":
                    return
        finally:
            await self.finish()

    async def finish(self) -> None:
        """Leave the topics (their hooks run, as for a closing socket), then the count and the groups."""
        try:
            await topics.unsubscribe_all(self)
        finally:
            await self.release()

    async def round(self, wait: float) -> list[str]:
        """One long-poll answer: what is queued, or else the first frames to arrive within ``wait`` seconds."""
        try:
            frames = self._drain()
            if self.caught_up and len(frames) <= self.opening_frames:  # nothing new yet: wait for it
                try:
                    first = await asyncio.wait_for(self._queue.get(), wait)
                except TimeoutError:
                    return frames
                if first is not None:
                    frames.append(_as_frame(first))
                frames += self._drain()
            return frames
        finally:
            await self.release()

    def _drain(self) -> list[str]:
        frames = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                frames.append(_as_frame(item))
        return frames

    async def _heartbeat(self) -> None:
        if self._login_check_due():
            await self._login_still_valid()
        await self.keep_alive()
        await topics.heartbeat(self)


def _as_frame(item: tuple[str, str]) -> str:
    """A queued event as a frame in a long-poll answer (a ``close`` event becomes a ``close`` frame)."""
    kind, data = item
    return data if kind == "message" else '{"type":"close",' + data.removeprefix("{")


def _event(kind: str, data: str) -> str:
    lines = [] if kind == "message" else [f"event: {kind}"]
    if kind == "message" and (found := NOTIFICATION_ID.match(data)):
        lines.append(f"id: {services.make_cursor(int(found[1]))}")  # a broadcast parses nothing per stream
    return "\n".join([*lines, f"data: {data}", "", ""])


async def stream(request: HttpRequest) -> StreamingHttpResponse | JsonResponse:
    """``GET <prefix>/stream/``: the notifications stream as ``text/event-stream`` (see the module docstring)."""
    cursor = request.headers.get("Last-Event-ID") or request.GET.get("cursor") or None
    connection = await _admit(request, cursor, streaming=True)
    if isinstance(connection, JsonResponse):
        return connection
    response = StreamingHttpResponse(connection.events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event through at once
    return response


async def poll(request: HttpRequest) -> HttpResponse:
    """``GET <prefix>/poll/?cursor=``: one long-poll round, for networks that cut streams.

    The frames the stream would open with (``hello``, the ``sync`` pages from
    the cursor), then whatever arrives live within ``LONG_POLL_SECONDS``,
    answered as soon as one does: ``{"frames": [...]}``. The client polls
    again with the cursor of the last sync or notification it got.
    """
    connection = await _admit(request, request.GET.get("cursor") or None, streaming=False)
    if isinstance(connection, JsonResponse):
        return connection
    frames = await connection.round(float(app_settings.LONG_POLL_SECONDS))
    body = '{"frames":[' + ",".join(frames) + "]}\n"  # frames are JSON already: not encoded again
    return HttpResponse(body, content_type="application/json", headers={"Cache-Control": "no-store"})


async def _admit(request: HttpRequest, cursor: str | None, *, streaming: bool) -> EventStream | JsonResponse:
    """The socket's rules over HTTP: GET, origin (when one is sent), login, the per-user limit, the database."""
    if request.method != "GET":
        return _error(405, "Use GET.")
    # A same-origin EventSource or fetch GET sends no Origin; a cross-origin one does, and must pass the socket's rule.
    if header(request.scope, b"origin") is not None and not origin_allowed(request.scope):  # type: ignore[attr-defined]
        return _error(403, "This origin may not open the stream.")
    try:
        request.user = await request.auser()
        if not request.user.is_authenticated:
            return _error(401, "Not signed in.")
        connection = EventStream(request, streaming=streaming)
        refused = await connection.open(cursor)
    except DatabaseError as exc:
        logger.warning("Refused an event stream: the database is unavailable (%s)", type(exc).__name__)
        return _error(503, "The database is unavailable; retry shortly.", retry=True)
    if refused is not None:
        return _error(429, "Too many open connections; close one and retry.", retry=True)
    return connection


def _error(status: int, message: str, *, retry: bool = False) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)  # the JSON API's error shape
    if retry:
        response["Retry-After"] = "5"
    return response
