"""The notifications WebSocket: thin protocol handling over services and realtime.

Lifecycle: check the Origin (refused handshakes get HTTP 403), close anonymous
sockets with 4401, join the user's groups, greet with the unread count, then
forward notifications and answer client frames. Bad client input gets an
``error`` frame and the connection stays open.

The channel layer is at-most-once: it drops messages over capacity and fails
while Redis is down. So the socket outlives a layer outage (it retries the
layer, re-joins its groups and asks the page to ``sync``), re-joins its groups
on every heartbeat (a Redis restart forgets them), and answers each heartbeat
with the inbox's newest cursor and count so the page notices anything dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch

from notifications import connections, protocol, realtime, services
from notifications.conf import app_settings
from notifications.exceptions import InvalidQuery
from notifications.ratelimit import TokenBucket
from notifications.security import origin_allowed

logger = logging.getLogger(__name__)

# Seconds between attempts to reach a channel layer that failed (doubling, capped).
LAYER_RETRY_FIRST, LAYER_RETRY_MAX = 0.5, 5.0


class NotificationConsumer(AsyncWebsocketConsumer):
    """Delivers a signed-in user's notifications; see docs/protocol.md."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # As AsyncConsumer.__call__, but the channel-layer side survives a layer
        # outage instead of ending the socket with 1011 (see _receive_from_layer).
        self.scope = scope
        self.channel_layer = get_channel_layer(app_settings.CHANNEL_LAYER)
        self.channel_name = await self.channel_layer.new_channel()
        self.base_send = send
        self._slow_client_bytes = int(app_settings.SLOW_CLIENT_BYTES)
        self._unheard_bytes = 0
        self._closing_slow_client = False
        self._max_frame_bytes = int(app_settings.MAX_FRAME_BYTES)
        limit = app_settings.RATE_LIMIT
        self._bucket = TokenBucket(limit["RATE"], limit["BURST"])
        self._refused_in_a_row = 0
        self._next_sync_page: str | None = None
        self._counted = False  # in the per-user connection count
        self._close_after_refusals = int(limit["CLOSE_AFTER"])
        with contextlib.suppress(StopConsumer):
            await await_many_dispatch([receive, self._receive_from_layer], self.dispatch)

    async def connect(self) -> None:
        if not origin_allowed(self.scope):
            logger.info("Refused a WebSocket handshake from origin %r", dict(self.scope["headers"]).get(b"origin"))
            await self.close()  # before accept: the handshake is answered with 403
            return
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=int(protocol.CloseCode.NOT_AUTHENTICATED))
            return
        self.user = user
        if not await self._count_connection_in():
            await self.accept()
            await self.close(code=int(protocol.CloseCode.TOO_MANY_CONNECTIONS), reason="too many open connections")
            return
        self.groups = await self._wanted_groups()
        try:
            await self._join_groups()
        except Exception as exc:  # noqa: BLE001
            # Serve anyway: sync works from the database, and the layer loop
            # re-joins the groups and asks the page to sync once the layer is back.
            logger.warning("Channel layer unavailable at connect (%s); live delivery resumes with it", exc)
        # Counted after joining: nothing committed from here on can be missed.
        unread = await database_sync_to_async(services.unread_count)(user)
        await self.accept()
        await self.send(
            text_data=protocol.hello_frame(user_id=user.pk, username=user.get_username(), unread_count=unread)
        )

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Forwarding a pushed frame touches no database: skip Channels' per-event
        # hop to the thread that closes old DB connections (it dominates fan-out).
        if message["type"] == realtime.FRAME_EVENT:
            await self.notifications_frame(message)
            return
        await super().dispatch(message)

    async def notifications_frame(self, event: dict[str, Any]) -> None:
        """A frame pushed through the channel layer, already encoded once for every socket."""
        await self.send(text_data=event["frame"])

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        # What a client that stopped reading has not taken waits in the server's
        # memory. Anything it sends proves it is alive; past the budget without
        # hearing from it, close the socket (4013): the page reconnects and syncs.
        if self._closing_slow_client:
            return
        self._unheard_bytes += len(text_data or bytes_data or "")
        if self._unheard_bytes > self._slow_client_bytes:
            self._closing_slow_client = True
            logger.info("Closing a socket %d bytes behind (user %s)", self._unheard_bytes, getattr(self, "user", None))
            await self.close(code=int(protocol.CloseCode.TOO_FAR_BEHIND), reason="too far behind; reconnect and sync")
            return
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self._unheard_bytes = 0
        size = len(text_data.encode("utf-8", "surrogatepass")) if text_data is not None else len(bytes_data or b"")
        if size > self._max_frame_bytes:
            await self.close(
                code=int(protocol.CloseCode.FRAME_TOO_BIG),
                reason=f"frames are limited to {self._max_frame_bytes} bytes",
            )
            return
        try:
            message = protocol.parse_client_frame(text_data, bytes_data)
        except protocol.ProtocolError as error:
            if await self._within_rate_limit():
                await self.send(text_data=error.frame())
            return
        # The next page of a sync the server itself said had "more" is free: a long
        # catch-up must not be throttled. Everything else spends a token.
        continuation = message.type == "sync" and message.fields.get("cursor") == self._next_sync_page
        if not continuation and not await self._within_rate_limit():
            return
        try:
            handler = getattr(self, f"handle_{message.type}", None) if message.type.isidentifier() else None
            if handler is None:
                raise protocol.ProtocolError(
                    "unknown_type", f"Unknown frame type {message.type[:40]!r}.", ref=message.ref
                )
            try:
                await handler(message)
            except InvalidQuery as error:
                raise protocol.ProtocolError("bad_field", str(error), ref=message.ref) from None
        except protocol.ProtocolError as error:
            await self.send(text_data=error.frame())

    async def _within_rate_limit(self) -> bool:
        """Spend a token; refuse the frame when the bucket is empty, and close on sustained abuse."""
        if self._bucket.take():
            self._refused_in_a_row = 0
            return True
        self._refused_in_a_row += 1
        if self._refused_in_a_row == 1:  # one error per run of refusals, not one per frame
            await self.send(text_data=protocol.error_frame("rate_limited", "Too many frames; slow down."))
        elif self._refused_in_a_row >= self._close_after_refusals:
            await self.close(code=int(protocol.CloseCode.RATE_LIMITED), reason="rate limited")
        return False

    async def handle_ping(self, message: protocol.ClientMessage) -> None:
        """Heartbeat: proves the whole path is alive, refreshes group membership, reports the inbox state."""
        try:
            await self._join_groups()
            await connections.touch(self.user.pk, self.channel_name)
        except Exception as exc:  # noqa: BLE001 - the layer loop reports and recovers outages
            logger.debug("Group refresh failed on ping: %s", exc)
        state = await database_sync_to_async(services.inbox_state)(self.user)
        cursor = services.make_cursor(state.latest_id)
        await self.send(
            text_data=protocol.pong_frame(message.ref, latest_cursor=cursor, unread_count=state.unread_count)
        )

    async def handle_handshake(self, message: protocol.ClientMessage) -> None:
        """Show the page its own opening handshake, as this server saw and answered it."""
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in self.scope["headers"]}
        await self.send(text_data=protocol.handshake_frame(message.ref, headers))

    async def handle_sync(self, message: protocol.ClientMessage) -> None:
        """Catch up from the page's cursor (null: the current inbox); "more" pages use the returned cursor."""
        result = await database_sync_to_async(services.sync)(self.user, message.fields.get("cursor"))
        self._next_sync_page = result.cursor if result.more else None
        await self.send(
            text_data=protocol.sync_frame(
                message.ref,
                notifications=result.notifications,
                cursor=result.cursor,
                more=result.more,
                reset=result.reset,
                unread_count=result.unread_count,
            )
        )

    async def handle_mark_read(self, message: protocol.ClientMessage) -> None:
        await self._change_read_state(message, read=True)

    async def handle_mark_unread(self, message: protocol.ClientMessage) -> None:
        await self._change_read_state(message, read=False)

    async def handle_mark_all_read(self, message: protocol.ClientMessage) -> None:
        """Mark read everything up to ``up_to`` (the newest id the page has shown), or everything."""
        up_to = message.fields.get("up_to")
        up_to = services.parse_ids([up_to])[0] if up_to is not None else None
        change = await database_sync_to_async(services.mark_all_read)(self.user, up_to=up_to)
        await self.send(
            text_data=protocol.ack_frame(message.ref, changed=len(change.changed), unread_count=change.unread_count)
        )

    async def _change_read_state(self, message: protocol.ClientMessage, *, read: bool) -> None:
        ids = services.parse_ids(protocol.ids_field(message))
        change = await database_sync_to_async(services.mark_read)(self.user, ids, read=read)
        if change.missing:
            # The others were applied; ids of other users are reported exactly like unknown ones.
            missing = ", ".join(map(str, change.missing[:20]))
            raise protocol.ProtocolError("not_found", f"Not in your inbox: {missing}.", ref=message.ref)
        await self.send(
            text_data=protocol.ack_frame(message.ref, changed=len(change.changed), unread_count=change.unread_count)
        )

    async def _count_connection_in(self) -> bool:
        """False when the user already has MAX_CONNECTIONS_PER_USER sockets open (anywhere)."""
        limit = app_settings.MAX_CONNECTIONS_PER_USER
        try:
            count = await connections.add(self.user.pk, self.channel_name)
        except Exception as exc:  # noqa: BLE001 - fail open: the limit protects, it must not lock people out
            logger.warning("Could not count connections (%s); allowing this one", exc)
            return True
        self._counted = True
        if limit is not None and count > limit:
            await connections.remove(self.user.pk, self.channel_name)
            self._counted = False
            return False
        return True

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        # Leaving groups is best effort: with Redis down they expire on their own.
        try:
            if self._counted:
                await connections.remove(self.user.pk, self.channel_name)
            for group in self.groups:
                await self.channel_layer.group_discard(group, self.channel_name)
        except Exception as exc:  # noqa: BLE001
            logger.info("Could not leave groups on disconnect (%s); they will expire", type(exc).__name__)
        await self.disconnect(message["code"])
        raise StopConsumer

    async def _wanted_groups(self) -> list[str]:
        """The user's own, auth-group and everyone groups, plus this login session's."""
        group_ids = await database_sync_to_async(services.auth_group_ids)(self.user)
        groups = realtime.groups_for_user(self.user.pk, group_ids)
        session = self.scope.get("session")
        if self.scope.get("auth_method") != "token" and session is not None and session.session_key:
            groups.append(realtime.session_group(session.session_key))
        return groups

    async def notifications_control(self, event: dict[str, Any]) -> None:
        """Account changes the socket must act on (see realtime.Control)."""
        action = event["action"]
        token_socket = self.scope.get("auth_method") == "token"
        if action in {realtime.Control.LOGGED_OUT, realtime.Control.DEACTIVATED} or (
            action == realtime.Control.TOKENS_REVOKED and token_socket
        ):
            await self.close(code=int(protocol.CloseCode.NOT_AUTHENTICATED), reason=action)
        elif action == realtime.Control.GROUPS_CHANGED:
            wanted = await self._wanted_groups()
            for group in set(self.groups) - set(wanted):
                await self.channel_layer.group_discard(group, self.channel_name)
            self.groups = wanted
            await self._join_groups()

    async def _join_groups(self) -> None:
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def _receive_from_layer(self) -> dict[str, Any]:
        """The next channel-layer message; across an outage, retry, re-join, and ask the page to sync."""
        delay = LAYER_RETRY_FIRST
        lost = False
        while True:
            try:
                message = await self.channel_layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any layer failure is an outage to ride out
                if not lost:
                    logger.warning("Channel layer lost (%s: %s); retrying", type(exc).__name__, exc)
                lost = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, LAYER_RETRY_MAX)
                if self.groups:
                    try:
                        await self._join_groups()
                    except Exception:  # noqa: BLE001 - still down: keep waiting
                        continue
                    logger.info("Channel layer back; re-joined %d group(s)", len(self.groups))
                    lost = False
                    delay = LAYER_RETRY_FIRST
                    return {"type": "notifications.resync", "reason": "channel_layer_recovered"}
                continue
            return message

    async def notifications_resync(self, event: dict[str, Any]) -> None:
        await self.send(text_data=protocol.resync_frame(event["reason"]))
