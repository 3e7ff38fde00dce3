"""One channel-layer subscription per group per process, fanned out to the process's sockets.

Joining every socket's own channel to a big group (an auth group, everyone, a
topic) makes channels-redis deliver one message per socket into the process
channel, and Daphne's single receive loop decode and dispatch each: a
broadcast to 1,000 sockets costs 1,000 layer messages in that process. Here
the process joins each such group once, with one channel of its own, and
writes the frame, already encoded, to every local socket in the group: one
layer message per group per process.

Per-user groups (targeted notifications, read state, logout and other
control events) stay on each socket's own channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from notifications import realtime

if TYPE_CHECKING:
    from notifications.live import LiveConsumer

logger = logging.getLogger(__name__)

# Re-join every group this often: Redis forgets memberships when it restarts,
# and channels-redis expires them after `group_expiry`.
REFRESH_SECONDS = 30.0


class LocalFanout:
    """The process's (event loop's) shared subscription to its sockets' shared groups."""

    def __init__(self, channel_layer: Any) -> None:
        self.layer = channel_layer
        self.channel: str | None = None
        self.members: dict[str, set[LiveConsumer]] = defaultdict(set)
        self._joined: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._refreshed = 0.0

    async def add(self, group: str, consumer: LiveConsumer) -> None:
        """Deliver the group's frames to ``consumer``; joins the layer group once per process."""
        if self.channel is None:
            self.channel = await self.layer.new_channel()  # the process channel, as the sockets use
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._receive_loop())
        self.members[group].add(consumer)
        if group not in self._joined:
            await self.layer.group_add(group, self.channel)
            self._joined.add(group)

    async def remove(self, group: str, consumer: LiveConsumer) -> None:
        members = self.members.get(group)
        if members is None:
            return
        members.discard(consumer)
        if not members:
            del self.members[group]
            self._joined.discard(group)
            try:
                await self.layer.group_discard(group, self.channel)
            except Exception as exc:  # noqa: BLE001 - it expires on its own
                logger.info("Could not leave %s (%s)", group, type(exc).__name__)

    async def refresh(self, *, force: bool = False) -> None:
        """Re-join every group (after a Redis restart, and before the layer's group expiry)."""
        loop = asyncio.get_running_loop()
        if not force and loop.time() - self._refreshed < REFRESH_SECONDS:
            return
        self._refreshed = loop.time()
        for group in list(self.members):
            await self.layer.group_add(group, self.channel)
            self._joined.add(group)

    async def _receive_loop(self) -> None:
        while True:
            message = await realtime.receive_or_recover(
                self.layer, self.channel, lambda: self.refresh(force=True), who="The fan-out"
            )
            if message is None:
                await self._tell_all_recovered()
            else:
                await self._deliver(message)

    async def _deliver(self, message: dict[str, Any]) -> None:
        """A frame goes out as it is; any other event type is dispatched to each consumer's handler."""
        frame = message.get("frame") if message.get("type") == realtime.FRAME_EVENT else None
        for consumer in list(self.members.get(message.get("group", ""), ())):
            try:
                if frame is not None:
                    await consumer.send(text_data=frame)
                else:
                    await consumer.dispatch(message)
            except Exception:  # one socket's failure must not stop the others
                logger.exception("Fan-out to one socket failed")

    async def _tell_all_recovered(self) -> None:
        consumers = {consumer for members in self.members.values() for consumer in members}
        for consumer in consumers:
            try:
                await consumer.on_layer_recovered()
            except Exception:
                logger.exception("Telling a socket the layer recovered failed")


_hubs: dict[asyncio.AbstractEventLoop, LocalFanout] = {}


def hub(channel_layer: Any) -> LocalFanout:
    """This event loop's fan-out (Daphne runs one loop per process)."""
    loop = asyncio.get_running_loop()
    existing = _hubs.get(loop)
    if existing is None or existing.layer is not channel_layer:
        existing = _hubs[loop] = LocalFanout(channel_layer)
    return existing
