"""The notifications WebSocket: thin protocol handling over services and realtime.

Lifecycle: check the Origin (refused handshakes get HTTP 403), close anonymous
sockets with 4401, join the user's groups, greet with the unread count, then
forward notifications and answer client frames. Bad client input gets an
``error`` frame and the connection stays open.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from notifications import protocol, realtime, services
from notifications.exceptions import InvalidQuery
from notifications.security import origin_allowed

logger = logging.getLogger(__name__)


class NotificationConsumer(AsyncWebsocketConsumer):
    """Delivers a signed-in user's notifications; see docs/protocol.md."""

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
        group_ids = await database_sync_to_async(services.auth_group_ids)(user)
        try:
            for group in realtime.groups_for_user(user.pk, group_ids):
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups.append(group)
        except Exception:
            logger.exception("Could not join channel-layer groups for user %s", user.pk)
            await self.accept()
            await self.close(code=int(protocol.CloseCode.SERVER_ERROR))
            return
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

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = protocol.parse_client_frame(text_data, bytes_data)
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

    async def handle_ping(self, message: protocol.ClientMessage) -> None:
        """Application-level heartbeat: proves the whole path, not just TCP, is alive."""
        await self.send(text_data=protocol.pong_frame(message.ref))

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
