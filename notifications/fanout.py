"""One channel-layer subscription per process, fanned out to the process's sockets.

Joining every socket's own channel to a group makes channels-redis deliver one
message per socket into the process, and keeps a receive task and buffer per
socket waiting on its own channel. Here the process listens on one channel of
its own, joins each group its sockets follow once (an auth group, everyone, a
topic, and each user's and session's group too), and writes the frame, already
encoded, to every local socket in the group: one layer message per group per
process, one receive loop per process. Other event types (control events, an
app's ``chat.typing``) go to each socket's handler. The fan-out knows a
connection only as a ``Subscriber`` (subscriber.py), so any transport can follow groups.

Joins and leaves of one group go to Redis one after another, in order: a page
reload leaves and re-joins its user's group at once, and a leave landing after
the join would cut that user off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from notifications import realtime, redis_layer, sharedstate
from notifications.group_names import layer_group
from notifications.subscriber import Subscriber

logger = logging.getLogger(__name__)

# Re-join every group this often: Redis forgets memberships when it restarts,
# and channels-redis expires them after `group_expiry`.
REFRESH_SECONDS = 30.0
# Group joins in flight at once during a refresh.
REFRESH_CONCURRENCY = 50
# How often heartbeats make the process check that Redis still has its memberships.
CHECK_SECONDS = 2.0
# The marker of kept memberships outlives a refresh; a dead process's expires.
MARKER_SECONDS = 3600
# Messages taken from the process's queue in Redis per round trip.
RECEIVE_BATCH = 100
# Lost messages are logged at most this often per process (every loss is acted on).
MISSED_WARNING_SECONDS = 60


class LocalFanout:
    """The process's (event loop's) one subscription, shared by all its sockets."""

    def __init__(self, channel_layer: Any) -> None:
        self.layer = channel_layer
        self.channel: str | None = None
        self.members: dict[str, set[Subscriber]] = defaultdict(set)
        self._joined: set[str] = set()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # group -> (lock, callers holding or waiting)
        self._channel_task: asyncio.Task[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._check_task: asyncio.Task[None] | None = None
        self._checked = float("-inf")
        self._refreshed = float("-inf")  # the first heartbeat check re-joins everything
        self._marked = False  # the marker of kept memberships is in Redis
        self._warned_ungrouped = False
        self._sequence: dict[str, dict[str, int]] = {}  # group -> sender -> last number received
        self._missed_warned_at = float("-inf")

    async def add(self, group: str, subscriber: Subscriber) -> None:
        """Deliver the group's frames and events to ``subscriber``; joins the layer group once per process."""
        if self.channel is None:
            await self._open_channel()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._receive_loop())
        self.members[group].add(subscriber)
        if group not in self._joined:
            await self._match_membership(group)
        if not self._marked:
            await self._mark()

    async def _open_channel(self) -> None:
        # Sockets connecting at once all get here; they must share one channel (the
        # pub/sub layer's new_channel waits on Redis). A failed attempt is retried by the next.
        if self._channel_task is None or (self._channel_task.done() and self._channel_task.exception()):
            self._channel_task = asyncio.get_running_loop().create_task(self.layer.new_channel())
        self.channel = await asyncio.shield(self._channel_task)

    async def remove(self, group: str, subscriber: Subscriber) -> None:
        members = self.members.get(group)
        if members is None:
            return
        members.discard(subscriber)
        if not members:
            del self.members[group]
            self._sequence.pop(group, None)
            try:
                await self._match_membership(group)
            except Exception as exc:  # noqa: BLE001 - it expires on its own
                logger.info("Could not leave %s (%s)", group, type(exc).__name__)

    async def _match_membership(self, group: str, *, again: bool = False) -> None:
        """Join or leave the layer group as the local members require (``again``: re-join if joined)."""
        async with self._group_lock(group):
            wanted = group in self.members
            if wanted and (again or group not in self._joined):
                await self._layer_join(group)
                self._joined.add(group)
            elif not wanted and group in self._joined:
                self._joined.discard(group)
                await self.layer.group_discard(layer_group(group), self.channel)

    async def _layer_join(self, group: str) -> None:
        group = layer_group(group)
        if not redis_layer.is_core(self.layer):
            await self.layer.group_add(group, self.channel)
            return
        # channels-redis's own group_add, its two commands batched with the other joins of
        # this loop turn: a connection storm otherwise opens a pooled connection per join.
        redis, commands = redis_layer.join_commands(self.layer, group, self.channel)
        await sharedstate.together(redis, commands)

    @contextlib.asynccontextmanager
    async def _group_lock(self, group: str) -> AsyncIterator[None]:
        lock, callers = self._locks.get(group, (None, 0))
        lock = lock or asyncio.Lock()
        self._locks[group] = (lock, callers + 1)
        try:
            async with lock:
                yield
        finally:
            lock, callers = self._locks[group]
            if callers == 1:
                del self._locks[group]
            else:
                self._locks[group] = (lock, callers - 1)

    def refresh_soon(self) -> None:
        """Keep the memberships true, in the background (called per heartbeat).

        Every CHECK_SECONDS: if Redis lost them (restarted or failed over faster than
        the connections noticed, or flushed), re-join and tell the sockets to resync.
        Every REFRESH_SECONDS: re-join anyway, before the layer's group expiry.
        """
        loop = asyncio.get_running_loop()
        if loop.time() - self._checked < CHECK_SECONDS or (self._check_task and not self._check_task.done()):
            return
        self._checked = loop.time()
        self._check_task = loop.create_task(self._check_quietly())

    async def _check_quietly(self) -> None:
        try:
            if not await self._memberships_kept():
                logger.warning("Redis lost this process's group memberships (restarted or flushed); re-joining")
                await self.refresh()
                await self._tell_all_recovered()
            elif asyncio.get_running_loop().time() - self._refreshed >= REFRESH_SECONDS:
                await self.refresh()
        except Exception as exc:  # noqa: BLE001 - the receive loop reports and recovers outages
            logger.debug("Group refresh failed: %s", exc)

    async def _memberships_kept(self) -> bool:
        """False when the marker set at the last refresh is gone from Redis (with it, the groups)."""
        redis = sharedstate.redis_client()
        if redis is None or not self._marked:
            return True
        return bool(await redis.exists(self._marker_key()))

    def _marker_key(self) -> str:
        return sharedstate.key("notifications", "fanout", self.channel)

    async def refresh(self) -> None:
        """Re-join every group (after a Redis restart, and before the layer's group expiry)."""
        self._refreshed = asyncio.get_running_loop().time()
        groups = list(self.members)
        for start in range(0, len(groups), REFRESH_CONCURRENCY):
            batch = groups[start : start + REFRESH_CONCURRENCY]
            await asyncio.gather(*(self._match_membership(group, again=True) for group in batch))
        await self._mark()

    async def _mark(self) -> None:
        redis = sharedstate.redis_client()
        if redis is not None:
            await redis.set(self._marker_key(), 1, ex=MARKER_SECONDS)
            self._marked = True

    async def _receive_loop(self) -> None:
        while True:
            messages = await realtime.receive_or_recover(self._receive_batch, self.refresh, who="The fan-out")
            if messages is None:
                await self._tell_all_recovered()
                continue
            for message in messages:
                await self._deliver(message)

    async def _receive_batch(self) -> list[dict[str, Any]]:
        """The next messages for this process: up to RECEIVE_BATCH in one Redis round trip.

        channels-redis's own receive() takes one message per several round trips
        (a cleanup script, BZPOPMIN, a backup write, a backup clean), each waiting its
        turn on the event loop. While other sockets connect and disconnect fast, the
        loop is busy and that receive fell behind the sends: the process's queue in
        Redis filled to its capacity and channels-redis dropped what came next,
        silently (bench/churn.py). Here a blocking pop and a bulk pop share one round
        trip. Messages are at-most-once either way; pages recover through sync.
        """
        if not redis_layer.is_core(self.layer):
            return [await self.layer.receive(self.channel)]
        return await redis_layer.receive_batch(self.layer, self.channel, RECEIVE_BATCH)

    async def _deliver(self, message: dict[str, Any]) -> None:
        """A frame goes out as it is; any other event type is dispatched to each subscriber's handler."""
        group = message.get("group")
        if group is None:
            self._warn_ungrouped(message)
            return
        if self._missed_before(message, group):
            await self._tell_missed(group)
        message.pop("sender", None)  # the numbering is the fan-out's business, not the handlers'
        message.pop("seq", None)
        frame = message.get("frame") if message.get("type") == realtime.FRAME_EVENT else None
        for subscriber in list(self.members.get(group, ())):
            try:
                if frame is not None:
                    await subscriber.deliver_frame(frame)
                else:
                    await subscriber.deliver_event(message)
            except Exception:  # one socket's failure must not stop the others
                logger.exception("Fan-out to one socket failed")

    def _missed_before(self, message: dict[str, Any], group: str) -> bool:
        """True when the sender's numbering skips: messages to ``group`` were lost on the way.

        channels-redis drops over capacity without a word; the publisher numbers each
        sender's messages per group (publisher._Sequencer). A 1 starts the numbering
        again (a restarted sender's counter); a number at or below the last one (two
        concurrent sends landing swapped) is not a gap.
        """
        sender, number = message.get("sender"), message.get("seq")
        if not isinstance(sender, str) or not isinstance(number, int) or group not in self.members:
            return False
        last_by_sender = self._sequence.setdefault(group, {})
        last = last_by_sender.get(sender)
        if last is not None and 1 < number <= last:
            return False  # a late arrival: its gap was counted when the later one came
        last_by_sender[sender] = number
        return last is not None and number > last + 1

    async def _tell_missed(self, group: str) -> None:
        """Messages to ``group`` were lost: its sockets resync now instead of at their next heartbeat."""
        now = asyncio.get_running_loop().time()
        if now - self._missed_warned_at >= MISSED_WARNING_SECONDS:
            self._missed_warned_at = now
            logger.warning(
                "Live messages to %s were lost on the way (the channel layer dropped them, e.g. over capacity); "
                "its sockets resync now (further losses are not logged for %d s)",
                group,
                MISSED_WARNING_SECONDS,
            )
        await self._tell_recovered(set(self.members.get(group, ())))

    def _warn_ungrouped(self, message: dict[str, Any]) -> None:
        if not self._warned_ungrouped:
            self._warned_ungrouped = True
            logger.warning(
                "Dropped a %r event sent with a plain group_send: it does not name its group, so it "
                "cannot reach the sockets. Send with notifications.realtime.apublish_event() or "
                "publish_event() (or LiveConsumer.group_frame) instead.",
                message.get("type"),
            )

    async def _tell_all_recovered(self) -> None:
        await self._tell_recovered({each for members in self.members.values() for each in members})

    async def _tell_recovered(self, subscribers: set[Subscriber]) -> None:
        """Live events may have been lost for these connections: each asks its client to resync."""
        for subscriber in subscribers:
            try:
                await subscriber.on_layer_recovered()
            except Exception:
                logger.exception("Telling a socket to resync failed")


_hubs: dict[asyncio.AbstractEventLoop, LocalFanout] = {}


def local_subscribers() -> set[Subscriber]:
    """Every connection this process's fan-outs serve (each follows at least its user's group)."""
    return {each for fanout in _hubs.values() for members in fanout.members.values() for each in members}


def hub(channel_layer: Any) -> LocalFanout:
    """This event loop's fan-out (Daphne runs one loop per process)."""
    loop = asyncio.get_running_loop()
    existing = _hubs.get(loop)
    if existing is None or existing.layer is not channel_layer:
        existing = _hubs[loop] = LocalFanout(channel_layer)
    return existing
