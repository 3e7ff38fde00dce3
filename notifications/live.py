"""``LiveConsumer``: the base class for real-time consumer apps, with all the plumbing done.

A subclass gets: the origin check (403), authentication (session or token;
4401), an authorization hook (4403), the per-user connection limit (4409), a
retryable close while the database is down (4503), the JSON protocol with a
handler per frame type (``{"type": "say"}`` calls
``handle_say``), ``error`` frames for bad input (the socket stays open), the
frame size limit (4009) and rate limit (4429), the heartbeat (``ping`` ->
``pong``), the slow-client cut-off (4013), survival of a channel-layer outage
(groups re-joined), closing when the login ends (logout, password change,
deactivation, token revocation, a heartbeat re-check), and 1001 on shutdown.

Subclasses override only hooks, and rarely call ``super()``::

    class ChatConsumer(LiveConsumer):
        async def get_groups(self) -> list[str]:
            return [f"chat.{self.options['room']}"]

        async def handle_say(self, message: ClientMessage) -> None:
            await self.group_frame(f"chat.{self.options['room']}", {"type": "said", "text": message.fields["text"]})

Per-route options given to ``as_asgi(room="lobby")`` are in ``self.options``;
URL kwargs are in ``self.scope["url_route"]["kwargs"]``. See docs/extending.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, ClassVar

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.exceptions import AcceptConnection, DenyConnection, StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.sessions import InstanceSessionWrapper
from channels.utils import await_many_dispatch
from django.db import DatabaseError

from notifications import connections, fanout, protocol, realtime, shutdown
from notifications.auth import DATABASE_DOWN
from notifications.channels_idiom import ConsumerLayer
from notifications.conf import app_settings
from notifications.connection_state import PONG_DATABASE_WAIT, ConnectionState
from notifications.exceptions import InvalidQuery
from notifications.protocol import ClientMessage, CloseCode, ProtocolError
from notifications.ratelimit import TokenBucket
from notifications.security import origin_allowed

logger = logging.getLogger(__name__)

# What a send to a socket whose client already left raises: Daphne (autobahn) raises
# Disconnected, uvicorn an OSError (ClientDisconnected).
SOCKET_GONE: tuple[type[BaseException], ...] = (OSError, Disconnected)

__all__ = ["ClientMessage", "CloseCode", "LiveConsumer", "ProtocolError"]


class LiveConsumer(ConnectionState, AsyncWebsocketConsumer):
    """Subclass, add ``handle_<type>`` methods, and override the hooks below as needed."""

    #: Options for every route of this class; ``as_asgi(**options)`` overrides them.
    default_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, **options: Any) -> None:
        # Channels' WebsocketConsumer drops as_asgi() kwargs; keep them.
        super().__init__()
        self.options = {**self.default_options, **options}

    # --- hooks -----------------------------------------------------------------

    async def authorize(self) -> bool:
        """May ``self.user`` use this endpoint (with ``self.options`` and the URL kwargs)? False closes 4403."""
        return True

    async def get_groups(self) -> list[str]:
        """Groups to follow besides the user's own (re-read when their auth groups change).

        Joined once per process and fanned out locally (see fanout.py): frames sent to
        them go to the socket as they are; other event types go to the matching handler.
        """
        return []

    async def on_connect(self) -> None:
        """Called once the socket is accepted: send a greeting, record presence..."""

    async def on_disconnect(self, code: int) -> None:
        """Called when the socket closes, for any reason (groups are left already)."""

    async def on_heartbeat(self) -> None:
        """Called on every client ``ping``, before the ``pong``: refresh what must stay fresh."""

    async def pong_fields(self) -> dict[str, Any]:
        """Extra fields for the ``pong`` frame."""
        return {}

    async def on_layer_recovered(self) -> None:
        """Live events to this socket may have been lost: the channel layer was down and is back
        (groups re-joined), Redis forgot the groups, or a group's messages skipped a number."""

    def is_free(self, message: ClientMessage) -> bool:
        """True for frames that must not spend a rate-limit token (say, a page the server announced)."""
        return False

    # --- helpers for subclasses ------------------------------------------------------

    async def send_frame(self, frame: dict[str, Any]) -> None:
        """Send one protocol frame (a dict with a ``type``) to this socket."""
        await self.send(text_data=protocol.encode(frame))

    async def group_frame(self, group: str, frame: dict[str, Any]) -> None:
        """Send one frame to every socket in ``group``, encoded once (any process)."""
        await realtime.apublish([group], protocol.encode(frame))

    async def group_event(self, group: str, event: dict[str, Any]) -> None:
        """Send a channel-layer event (``{"type": "chat.typing", ...}``) to the handler of every socket in ``group``."""
        await realtime.apublish_event([group], event)

    # --- the fan-out's Subscriber (subscriber.py) ------------------------------------

    async def deliver_frame(self, frame: str) -> None:
        await self.send(text_data=frame)

    async def deliver_event(self, event: dict[str, Any]) -> None:
        await self.dispatch(event)

    # --- the plumbing ----------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # As AsyncConsumer.__call__, but a socket does not listen on a channel of its
        # own: every group it follows, its user's and session's too, comes through the
        # process's fan-out (fanout.py), which also rides out channel-layer outages.
        # ``channel_name`` stays as the socket's unique name in shared state (the
        # connection count, presence); nothing listens on it.
        self.scope = scope
        layer = get_channel_layer(app_settings.CHANNEL_LAYER)
        self.channel_name = connections.socket_name()
        self.channel_layer = ConsumerLayer(self, layer)  # Channels' group idiom, onto the fan-out
        self._hub = fanout.hub(layer)
        self.base_send = send
        self._send_text = _text_sender(send)
        self.user = None
        self._slow_client_bytes = int(app_settings.SLOW_CLIENT_BYTES)
        self._unheard_bytes = 0
        self._closing_slow_client = False
        self._max_frame_bytes = int(app_settings.MAX_FRAME_BYTES)
        limit = app_settings.RATE_LIMIT
        self._bucket = TokenBucket(limit["RATE"], limit["BURST"])
        self._refused_in_a_row = 0
        self._warned_at = float("-inf")
        self._close_after_refusals = int(limit["CLOSE_AFTER"])
        self._accepted = False
        self._gone = False  # the client closed; nothing more can be sent
        self.open_connection_state()
        try:
            await await_many_dispatch([receive], self.dispatch)
        except StopConsumer:
            pass
        except asyncio.CancelledError:
            # Cancelled by the server (shutting down, or past its application close
            # timeout): leave the groups and the count now, not when they expire.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.release(), shutdown.CLEANUP_SECONDS)
                if self._accepted:
                    await asyncio.wait_for(self.on_disconnect(shutdown.GOING_AWAY), shutdown.CLEANUP_SECONDS)
            raise

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        # Channels joins a class-level ``groups`` list on the socket's own channel,
        # which nothing reads here: connect() follows them through the fan-out instead.
        try:
            await self.connect()
        except AcceptConnection:
            await self.accept()
        except DenyConnection:
            await self.close()
        except DatabaseError as exc:
            # Retryable, not a server error: the page reconnects with backoff.
            logger.warning("Closing a new socket: the database is unavailable (%s)", type(exc).__name__)
            if not self._accepted:
                await self.accept()
            await self.close(code=int(CloseCode.UNAVAILABLE), reason="database unavailable; retry")

    async def connect(self) -> None:
        shutdown.install()
        if not origin_allowed(self.scope):
            logger.info("Refused a WebSocket handshake from origin %r", dict(self.scope["headers"]).get(b"origin"))
            await self.close()  # before accept: the handshake is answered with 403
            return
        if self.scope.get(DATABASE_DOWN):
            await self._refuse(CloseCode.UNAVAILABLE, "database unavailable; retry")
            return
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CloseCode.NOT_AUTHENTICATED, "not signed in")
            return
        self.user = user
        self._login_checked_at = asyncio.get_running_loop().time()
        if not await self.authorize():
            await self._refuse(CloseCode.FORBIDDEN, "not allowed")
            return
        if not await self._count_connection_in():
            await self._refuse(CloseCode.TOO_MANY_CONNECTIONS, "too many open connections")
            return
        self.personal_groups = self._personal_groups()
        try:
            wanted = await self._wanted_groups()
            # Joined at once: the joins of one loop turn share a Redis round trip (sharedstate.together).
            await asyncio.gather(
                *(self._hub.add(group, self) for group in self.personal_groups),
                *(self.join_group(group) for group in wanted),
            )
        except Exception as exc:  # noqa: BLE001
            # Serve anyway: the layer loop re-joins the groups once the layer is back.
            logger.warning("Channel layer unavailable at connect (%s); live delivery resumes with it", exc)
        await self.accept()
        self._accepted = True
        await self.on_connect()

    async def _refuse(self, code: CloseCode, reason: str) -> None:
        await self.accept()
        await self.close(code=int(code), reason=reason)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # As Channels' dispatch, without its hop to the sync thread to close stale
        # database connections before every event: each database_sync_to_async call
        # does that itself, and the hop cost a thread round trip per frame and per
        # connect (most of a broadcast's server time, a tenth of a connection storm's).
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']!r}")
        await handler(message)

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        # Nothing goes out before the accept (the fan-out may have a frame for a socket
        # still connecting: its page syncs after hello) or after the client left.
        if not self._accepted or self._gone:
            return
        try:
            await self._send_checked(text_data, bytes_data, close)
        except SOCKET_GONE:
            # The client closed while a handler was still answering it (a page closed
            # during its subscribe): its disconnect event follows and must still run.
            self._gone = True

    async def _send_checked(self, text_data: str | None, bytes_data: bytes | None, close: bool) -> None:
        # What a client that stopped reading has not taken waits in the server's
        # memory. Anything it sends proves it is alive; past the budget without
        # hearing from it, close the socket (4013): the page reconnects and syncs.
        if self._closing_slow_client:
            return
        self._unheard_bytes += len(text_data or bytes_data or "")
        if self._unheard_bytes > self._slow_client_bytes:
            self._closing_slow_client = True
            logger.info("Closing a socket %d bytes behind (user %s)", self._unheard_bytes, self.user)
            await self.close(code=int(CloseCode.TOO_FAR_BEHIND), reason="too far behind; reconnect and sync")
            return
        if text_data is not None and bytes_data is None and not close:
            await self._send_text({"type": "websocket.send", "text": text_data})
            return
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self._unheard_bytes = 0
        size = len(text_data.encode("utf-8", "surrogatepass")) if text_data is not None else len(bytes_data or b"")
        if size > self._max_frame_bytes:
            reason = f"frames are limited to {self._max_frame_bytes} bytes"
            await self.close(code=int(CloseCode.FRAME_TOO_BIG), reason=reason)
            return
        try:
            message = protocol.parse_client_frame(text_data, bytes_data)
        except ProtocolError as error:
            if await self._within_rate_limit():
                await self.send(text_data=error.frame())
            return
        if not self.is_free(message) and not await self._within_rate_limit():
            return
        try:
            handler = getattr(self, f"handle_{message.type}", None) if message.type.isidentifier() else None
            if handler is None:
                raise ProtocolError("unknown_type", f"Unknown frame type {message.type[:40]!r}.", ref=message.ref)
            try:
                await handler(message)
            except InvalidQuery as error:
                raise ProtocolError("bad_field", str(error), ref=message.ref) from None
            except DatabaseError as exc:
                logger.warning("A %r frame found the database unavailable (%s)", message.type, type(exc).__name__)
                raise ProtocolError(
                    "unavailable", "The database is unavailable; retry shortly.", ref=message.ref
                ) from None
        except ProtocolError as error:
            await self.send(text_data=error.frame())
        except Exception:
            # A bug in a handler answers that frame, logged in full; the socket and its
            # groups, count and fan-out membership stay as they were (a crash would leak them).
            logger.exception("The %r frame handler of %s failed", message.type, type(self).__name__)
            failed = protocol.error_frame("server_error", "The server failed to handle this frame.", ref=message.ref)
            await self.send(text_data=failed)

    async def _within_rate_limit(self) -> bool:
        """Spend a token; refuse the frame when the bucket is empty, and close on sustained abuse."""
        if self._bucket.take():
            self._refused_in_a_row = 0
            return True
        self._refused_in_a_row += 1
        now = self._bucket.clock()
        # One error per flood, not one per frame nor per refill token granted mid-flood:
        # not again until the bucket could have refilled.
        if self._refused_in_a_row == 1 and now - self._warned_at >= self._bucket.capacity / self._bucket.rate:
            self._warned_at = now
            await self.send(text_data=protocol.error_frame("rate_limited", "Too many frames; slow down."))
        elif self._refused_in_a_row >= self._close_after_refusals:
            await self.close(code=int(CloseCode.RATE_LIMITED), reason="rate limited")
        return False

    async def handle_ping(self, message: ClientMessage) -> None:
        """Heartbeat: proves the whole path is alive, refreshes group membership and the connection count,
        and every REVALIDATE_SECONDS checks that the login is still valid."""
        if self._login_check_due() and not await self._login_still_valid():
            return
        await self.keep_alive()
        await self.on_heartbeat()
        await self.send_frame({"type": "pong", "ref": message.ref, **await self._bounded_pong_fields()})

    async def _bounded_pong_fields(self) -> dict[str, Any]:
        """pong_fields(), or none when they need a database that is slow or down: a ping never waits on it."""
        try:
            return await asyncio.wait_for(self.pong_fields(), PONG_DATABASE_WAIT)
        except (DatabaseError, TimeoutError) as exc:
            logger.info("Pong without its fields: %s", type(exc).__name__)
            return {}

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        # Leaving is best effort: with Redis down, groups and counts expire on their own.
        try:
            await self.release()
        except Exception as exc:  # noqa: BLE001
            logger.info("Could not leave groups on disconnect (%s); they will expire", type(exc).__name__)
        if self._accepted:
            await self.on_disconnect(message["code"])
        raise StopConsumer


def _text_sender(send: Any) -> Any:
    """The server's own send for text frames, past Channels' session wrapper.

    The wrapper only acts on HTTP responses, yet reads the session's state on every
    message; a broadcast sends one frame per socket, so it is skipped for them.
    """
    wrapper = getattr(send, "__self__", None)
    return wrapper.real_send if isinstance(wrapper, InstanceSessionWrapper) else send
