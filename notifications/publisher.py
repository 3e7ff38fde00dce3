"""Publishing from sync code: an ordered queue of pushes, sent by one thread per process.

Sync callers (views, commands, workers) do not await their push: ``notify()``
costs no Redis round trip of its own. A daemon thread sends what is queued in
batches (for channels-redis, two round trips per Redis host per batch, with a
blocking client of its own: redis_layer.group_send_many), in order per group; a
Redis outage never blocks the caller, and what is queued is flushed before the
process exits. One long-lived event loop in another daemon thread runs what
needs one (``run_on_publisher``; pushes to other channel layers), instead of a
new loop and connection per ``async_to_sync`` call.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from channels.layers import BaseChannelLayer

from notifications import redis_layer
from notifications.conf import app_settings
from notifications.group_names import layer_group

logger = logging.getLogger(__name__)

# One queued push: the groups it goes to, the channel-layer event, the layer it was queued for.
Push = tuple[list[str], dict[str, Any], BaseChannelLayer]


def enqueue(groups: list[str], event: dict[str, Any], channel_layer: BaseChannelLayer) -> None:
    """Queue a push; it goes out in order with the others to its groups (see _PushQueue)."""
    _queue.put(groups, event, channel_layer)


def flush(timeout: float | None = None) -> bool:
    """Wait until every queued push has been sent (or given up); False if ``timeout`` ran out first."""
    if _queue.is_empty():
        return True
    return _queue.flush(float(app_settings.PUSH_TIMEOUT) * 2 if timeout is None else timeout)


def warn_failed(groups: Sequence[str], exc: BaseException) -> None:
    logger.warning(
        "Live push to %d group(s) failed (%s: %s); the notification is stored and "
        "clients will receive it when they sync.",
        len(groups),
        type(exc).__name__,
        exc or "timed out",
    )


def run_on_publisher(coroutine: Any) -> Any:
    """Run a coroutine on the publisher's event loop from sync code; wait PUSH_TIMEOUT (plus a margin).

    Raises concurrent.futures.TimeoutError (after cancelling it) when it takes longer.
    """
    future = _publisher.submit(coroutine)
    try:
        return future.result(float(app_settings.PUSH_TIMEOUT) + 0.5)
    except FutureTimeout:
        future.cancel()
        raise


class _LoopThread:
    """An event loop in a daemon thread, created on first use and again after fork."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None

    def submit(self, coroutine: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop())

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="notifications-publisher", daemon=True)
                thread.start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop


_publisher = _LoopThread()


class _PushQueue:
    """Pushes from sync code, sent in order by one thread of the process: in batches, in order per group.

    For a channels-redis layer a batch goes out with a blocking client in two round
    trips per Redis host (redis_layer.group_send_many; an event loop per batch cost
    more CPU than the sends); other layers go through the publisher's event loop.
    A failed send drops what was queued behind it with one warning (those would
    wait out the same outage one by one), so an outage costs at most one
    PUSH_TIMEOUT of delay. Past MAX_PENDING queued pushes the caller waits for
    the queue to drain a little (bounded by PUSH_TIMEOUT): back-pressure, not loss.
    """

    MAX_PENDING = 10_000
    BATCH = 500  # pushes taken from the queue at once
    # After waking from idle, wait this long for more pushes before sending: a batch costs two
    # Redis round trips per host whatever its size, so a busy sender spends a fraction of the
    # CPU per push (bench/sender.py), for 2 ms of latency.
    LINGER_SECONDS = 0.002

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[Push] = deque()
        self._idle = threading.Condition(self._lock)  # the queue drained (flush, back-pressure)
        self._work = threading.Condition(self._lock)  # something to send
        self._sending = False
        self._pid: int | None = None

    def put(self, groups: list[str], event: dict[str, Any], channel_layer: BaseChannelLayer) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child: a sending thread of its own
                self._pid, self._items, self._sending = os.getpid(), deque(), False
                threading.Thread(target=self._run, name="notifications-pusher", daemon=True).start()
            if len(self._items) >= self.MAX_PENDING:
                self._idle.wait_for(lambda: len(self._items) < self.MAX_PENDING, float(app_settings.PUSH_TIMEOUT))
            self._items.append((groups, event, channel_layer))
            self._work.notify()

    def is_empty(self) -> bool:
        with self._lock:
            return not self._items and not self._sending

    def flush(self, timeout: float) -> bool:
        with self._lock:
            return self._idle.wait_for(lambda: not self._items and not self._sending, timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._sending = False
                self._idle.notify_all()
                self._work.wait_for(lambda: bool(self._items))
                self._sending = True
            time.sleep(self.LINGER_SECONDS)
            while True:
                with self._lock:
                    batch = [self._items.popleft() for _ in range(min(self.BATCH, len(self._items)))]
                if not batch:
                    break
                self._send_batch(batch)

    def _send_batch(self, batch: list[Push]) -> None:
        """Send in waves: a group's pushes go out one after another, in order."""
        waves = _waves(batch)
        for index, wave in enumerate(waves):
            failures = _send_wave(wave)
            if failures:
                warn_failed([group for groups, _, _ in wave for group in groups], failures[0])
                with self._lock:
                    dropped = sum(len(later) for later in waves[index + 1 :]) + len(self._items)
                    self._items.clear()
                if dropped:
                    logger.warning(
                        "Dropped %d queued live push(es) after a failure; clients catch up when they sync.", dropped
                    )
                return


def _waves(batch: list[Push]) -> list[list[Push]]:
    """Split a batch so no group appears twice in a wave, each push after any earlier one to its groups."""
    waves: list[list[Push]] = []
    last_wave: dict[str, int] = {}
    for item in batch:
        index = 1 + max((last_wave.get(group, -1) for group in item[0]), default=-1)
        if index == len(waves):
            waves.append([])
        waves[index].append(item)
        for group in item[0]:
            last_wave[group] = index
    return waves


class _Sequencer:
    """Numbers this process's pushes per group (1, 2, 3...), so a receiver can see a gap.

    channels-redis drops a message silently when a channel is over capacity; the
    fan-out that receives 5 after 3 from the same sender knows 4 was lost and
    tells that group's sockets to resync (fanout.py). At most MAX_GROUPS counters
    are kept, least recently used first out; a group's numbering then starts
    again at 1, which receivers take as a new start, not a gap.
    """

    MAX_GROUPS = 100_000

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the publisher thread and a server's event loop both send
        self._pid: int | None = None
        self.sender = ""
        self._counters: OrderedDict[str, int] = OrderedDict()

    def next(self, group: str) -> tuple[str, int]:
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child: a sender of its own
                self._pid, self.sender, self._counters = os.getpid(), uuid.uuid4().hex[:12], OrderedDict()
            number = self._counters.pop(group, 0) + 1
            self._counters[group] = number
            if len(self._counters) > self.MAX_GROUPS:
                self._counters.popitem(last=False)
            return self.sender, number


_sequencer = _Sequencer()


def _send_wave(wave: list[Push]) -> list[BaseException]:
    """A wave's pushes (no group twice): in one batch per channels-redis layer, else through the event loop."""
    by_layer: dict[int, list[Push]] = {}
    for push in wave:
        by_layer.setdefault(id(push[2]), []).append(push)
    failures: list[BaseException] = []
    timeout = float(app_settings.PUSH_TIMEOUT)
    for pushes in by_layer.values():
        layer = pushes[0][2]
        try:
            if redis_layer.is_core(layer):
                messages = [(layer_group(g), _numbered(event, g)) for groups, event, _ in pushes for g in groups]
                redis_layer.group_send_many(layer, messages, timeout=timeout)
            else:
                failures += [failure for failure in run_on_publisher(_send_each(pushes)) if failure is not None]
        except Exception as exc:  # noqa: BLE001 - any layer failure must not fail the caller
            failures.append(exc)
    return failures


async def _send_each(pushes: list[Push]) -> list[BaseException | None]:
    return await asyncio.gather(*(send_to_groups(layer, groups, event) for groups, event, layer in pushes))


async def send_to_groups(
    channel_layer: BaseChannelLayer, groups: Sequence[str], event: dict[str, Any]
) -> BaseException | None:
    """One push to its groups within PUSH_TIMEOUT; the failure, if any, instead of raising it."""
    try:
        # Each copy names its group (a process's fan-out routes it to that group's sockets)
        # and carries its number in this sender's sequence for the group (see _Sequencer).
        sends = (channel_layer.group_send(layer_group(group), _numbered(event, group)) for group in groups)
        await asyncio.wait_for(asyncio.gather(*sends), app_settings.PUSH_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any layer failure must not fail the caller
        return exc
    return None


def _numbered(event: dict[str, Any], group: str) -> dict[str, Any]:
    sender, number = _sequencer.next(group)
    return {**event, "group": group, "sender": sender, "seq": number}


_queue = _PushQueue()
atexit.register(flush)
