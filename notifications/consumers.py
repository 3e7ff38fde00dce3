"""The notifications WebSocket: the user's notifications, sync, read state and topics.

All connection plumbing (origin, auth, limits, heartbeat, outages) is in
``LiveConsumer``; this adds the notification protocol on top (docs/protocol.md):
greet with the unread count, forward notifications, answer ``sync``,
``mark_read``, ``mark_all_read`` and ``handshake``, answer each heartbeat with
the inbox's newest cursor and count (so a page notices anything dropped), ask
the page to sync after a channel-layer outage, and carry other apps' topics.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from notifications import protocol, services, topics
from notifications.db import concurrent_read
from notifications.live import ClientMessage, LiveConsumer, ProtocolError


class NotificationConsumer(LiveConsumer):
    """Delivers a signed-in user's notifications; see docs/protocol.md."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._next_sync_page: str | None = None
        self.subscriptions: dict[str, tuple[topics.Topic, dict[str, Any]]] = {}  # group -> (topic, params)

    async def get_groups(self) -> list[str]:
        audience = await concurrent_read(services.audience_groups)(self.user)
        return [*audience, *self.subscriptions]  # shared per process

    async def on_connect(self) -> None:
        # Counted after joining: nothing committed from here on can be missed.
        unread = await concurrent_read(services.unread_count)(self.user)
        await self.send(
            text_data=protocol.hello_frame(user_id=self.user.pk, username=self.user.get_username(), unread_count=unread)
        )

    async def pong_fields(self) -> dict[str, Any]:
        state = await concurrent_read(services.inbox_state)(self.user)
        return {"latest_cursor": services.make_cursor(state.latest_id), "unread_count": state.unread_count}

    async def on_heartbeat(self) -> None:
        await topics.heartbeat(self)

    async def on_disconnect(self, code: int) -> None:
        await topics.unsubscribe_all(self)

    async def on_layer_recovered(self) -> None:
        await self.send(text_data=protocol.resync_frame("channel_layer_recovered"))

    def is_free(self, message: ClientMessage) -> bool:
        # The next page of a sync the server itself said had "more": a long catch-up is not throttled.
        return message.type == "sync" and message.fields.get("cursor") == self._next_sync_page

    async def handle_handshake(self, message: ClientMessage) -> None:
        """Show the page its own opening handshake, as this server saw and answered it."""
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in self.scope["headers"]}
        await self.send(text_data=protocol.handshake_frame(message.ref, headers))

    async def handle_sync(self, message: ClientMessage) -> None:
        """Catch up from the page's cursor (null: the current inbox); "more" pages use the returned cursor."""
        result = await concurrent_read(services.sync)(self.user, message.fields.get("cursor"))
        self._next_sync_page = result.cursor if result.more else None
        await self.send(text_data=protocol.sync_answer(message.ref, result))

    async def handle_mark_read(self, message: ClientMessage) -> None:
        await self._change_read_state(message, read=True)

    async def handle_mark_unread(self, message: ClientMessage) -> None:
        await self._change_read_state(message, read=False)

    async def handle_mark_all_read(self, message: ClientMessage) -> None:
        """Mark read everything up to ``up_to`` (the newest id the page has shown), or everything."""
        up_to = message.fields.get("up_to")
        up_to = services.parse_ids([up_to], field="up_to")[0] if up_to is not None else None
        change = await database_sync_to_async(services.mark_all_read)(self.user, up_to=up_to)
        await self.send(
            text_data=protocol.ack_frame(message.ref, changed=len(change.changed), unread_count=change.unread_count)
        )

    async def _change_read_state(self, message: ClientMessage, *, read: bool) -> None:
        ids = services.parse_ids(protocol.ids_field(message))
        change = await database_sync_to_async(services.mark_read)(self.user, ids, read=read)
        if change.missing:
            # The others were applied; ids of other users are reported exactly like unknown ones.
            missing = ", ".join(map(str, change.missing[:20]))
            raise ProtocolError("not_found", f"Not in your inbox: {missing}.", ref=message.ref)
        await self.send(
            text_data=protocol.ack_frame(message.ref, changed=len(change.changed), unread_count=change.unread_count)
        )

    async def handle_subscribe(self, message: ClientMessage) -> None:
        """Follow another app's topic on this socket (after its authorization check)."""
        await topics.subscribe(self, message)

    async def handle_unsubscribe(self, message: ClientMessage) -> None:
        await topics.unsubscribe(self, message)
