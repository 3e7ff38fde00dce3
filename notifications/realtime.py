"""The one module that talks to the channel layer: group names and sending.

A send reaches one channel-layer group per audience (a user, an auth group or
everyone), never one message per recipient. The frame text is encoded once
here, so consumers forward it without re-serializing it per socket.

Sync callers (views, commands, workers) publish through one long-lived event
loop in a background thread: one Redis connection pool per process instead of a
new loop and connection per ``async_to_sync`` call. A sync publish is queued,
not awaited: ``notify()`` costs no thread hop or Redis round trip, the queue is
sent in order, a Redis outage never blocks the caller, and what is queued is
flushed before the process exits (``flush()``).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import logging
import os
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer
from django.db import transaction

from notifications.conf import app_settings

logger = logging.getLogger(__name__)

# Channel-layer event types. Namespaced so they cannot collide with handlers
# of apps that subclass our consumer ("notifications.frame" -> notifications_frame).
FRAME_EVENT = "notifications.frame"  # a frame to forward to the browser as it is
CONTROL_EVENT = "notifications.control"  # an instruction for the consumer itself


class Control:
    """What a control event tells the sockets that receive it."""

    LOGGED_OUT = "logged_out"  # this session logged out: close (4401)
    DEACTIVATED = "deactivated"  # the user was deactivated: close (4401)
    TOKENS_REVOKED = "tokens_revoked"  # close sockets that signed in with a token (4401)
    GROUPS_CHANGED = "groups_changed"  # re-read the user's auth groups and re-join


def user_group(user_id: int) -> str:
    return f"{app_settings.GROUP_PREFIX}.user.{user_id}"


def auth_group_group(group_id: int) -> str:
    return f"{app_settings.GROUP_PREFIX}.group.{group_id}"


def everyone_group() -> str:
    return f"{app_settings.GROUP_PREFIX}.everyone"


def session_group(session_key: str) -> str:
    """A group per login session, so logging out can close that session's sockets (hashed: keys are secrets)."""
    return f"{app_settings.GROUP_PREFIX}.session.{hashlib.sha256(session_key.encode()).hexdigest()[:32]}"


def control(groups: Sequence[str], action: str) -> None:
    """Tell the sockets in ``groups`` to act (see Control), after the current transaction commits."""
    event = {"type": CONTROL_EVENT, "action": action}
    transaction.on_commit(lambda: publish_event(groups, event), robust=True)


def layer() -> BaseChannelLayer | None:
    return get_channel_layer(app_settings.CHANNEL_LAYER)


async def apublish_event(
    groups: Sequence[str], event: dict[str, Any], channel_layer: BaseChannelLayer | None = None
) -> bool:
    """Send a channel-layer event to groups from async code; False (and a warning) on failure."""
    channel_layer = channel_layer or layer()
    if channel_layer is None or not groups:
        return channel_layer is not None
    failure = await _send(channel_layer, groups, event)
    if failure is not None:
        _warn_failed(groups, failure)
    return failure is None


def publish_event(groups: Sequence[str], event: dict[str, Any]) -> None:
    """Queue a channel-layer event for groups from sync code; returns at once.

    Events are sent in the order they were queued, each bounded by PUSH_TIMEOUT;
    a failure is logged (clients catch up through sync). Call ``flush()`` to wait.
    """
    channel_layer = layer()
    if groups and channel_layer is not None:
        _queue.put(list(groups), event, channel_layer)


def publish(groups: Sequence[str], frame: str) -> None:
    """Queue an encoded browser frame for groups from sync code (see publish_event)."""
    publish_event(groups, {"type": FRAME_EVENT, "frame": frame})


def flush(timeout: float | None = None) -> bool:
    """Wait until every queued publish has been sent (or given up); False if ``timeout`` ran out first.

    For processes about to exit or tests that must see a push land; it also runs at exit.
    """
    if _queue.is_empty():
        return True
    return _queue.flush(float(app_settings.PUSH_TIMEOUT) * 2 if timeout is None else timeout)


def layer_problem() -> str | None:
    """None when the channel layer answers within PUSH_TIMEOUT, else a short description."""
    timeout = float(app_settings.PUSH_TIMEOUT)

    async def probe() -> None:
        channel_layer = layer()
        if channel_layer is None:
            raise RuntimeError("no channel layer is configured")
        # A send to a group no one joins: a real round trip, no message left behind.
        event = {"type": "notifications.healthz"}
        await asyncio.wait_for(channel_layer.group_send(f"{app_settings.GROUP_PREFIX}.healthz", event), timeout)

    try:
        run_on_publisher(probe())
    except Exception as exc:  # noqa: BLE001 - every failure is reported the same way
        logger.warning("Channel layer health check failed: %s: %s", type(exc).__name__, exc)
        return type(exc).__name__
    return None


def _warn_failed(groups: Sequence[str], exc: BaseException) -> None:
    logger.warning(
        "Live push to %d group(s) failed (%s: %s); the notification is stored and "
        "clients will receive it when they sync.",
        len(groups),
        type(exc).__name__,
        exc or "timed out",
    )


# Seconds between attempts to reach a channel layer that failed (doubling, capped).
RETRY_FIRST, RETRY_MAX = 0.5, 5.0


async def receive_or_recover(
    channel_layer: BaseChannelLayer, channel: str, rejoin: Callable[[], Awaitable[None]], *, who: str
) -> dict[str, Any] | None:
    """The next message on ``channel``; across a layer outage, retry with backoff until ``rejoin``
    (re-joining the groups a Redis restart forgot) succeeds, then None: "events may have been lost"."""
    delay, lost = RETRY_FIRST, False
    while True:
        try:
            return await channel_layer.receive(channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any layer failure is an outage to ride out
            if not lost:
                logger.warning("%s lost the channel layer (%s: %s); retrying", who, type(exc).__name__, exc)
            lost = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            try:
                await rejoin()
            except Exception:  # noqa: BLE001 - still down: keep waiting
                continue
            logger.info("%s: channel layer back, groups re-joined", who)
            return None


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
    """Pushes from sync code, sent by one task on the publisher loop: concurrently, but in order per group.

    A failed send drops what was queued behind it with one warning (those would
    wait out the same outage one by one), so an outage costs at most one
    PUSH_TIMEOUT of delay. Past MAX_PENDING queued pushes the caller waits for
    the queue to drain a little (bounded by PUSH_TIMEOUT): back-pressure, not loss.
    """

    MAX_PENDING = 10_000
    BATCH = 500  # pushes taken from the queue at once

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[tuple[list[str], dict[str, Any], BaseChannelLayer]] = deque()
        self._wakeup: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle = threading.Condition(self._lock)
        self._sending = False

    def put(self, groups: list[str], event: dict[str, Any], channel_layer: BaseChannelLayer) -> None:
        loop = _publisher.loop()
        with self._lock:
            if self._loop is not loop:  # first use, or a forked child: a fresh worker on this loop
                self._loop, self._items, self._sending = loop, deque(), False
                self._wakeup = None
                asyncio.run_coroutine_threadsafe(self._run(), loop)
            if len(self._items) >= self.MAX_PENDING:
                self._idle.wait_for(lambda: len(self._items) < self.MAX_PENDING, float(app_settings.PUSH_TIMEOUT))
            self._items.append((groups, event, channel_layer))
            was_idle = len(self._items) == 1 and not self._sending
        if was_idle:
            loop.call_soon_threadsafe(self._wake)

    def is_empty(self) -> bool:
        with self._lock:
            return not self._items and not self._sending

    def flush(self, timeout: float) -> bool:
        with self._lock:
            return self._idle.wait_for(lambda: not self._items and not self._sending, timeout)

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    async def _run(self) -> None:
        self._wakeup = asyncio.Event()
        while True:
            with self._lock:
                batch = [self._items.popleft() for _ in range(min(self.BATCH, len(self._items)))]
                self._sending = bool(batch)
                if not batch:
                    self._idle.notify_all()
                    self._wakeup.clear()
            if not batch:
                await self._wakeup.wait()
                continue
            await self._send_batch(batch)
            with self._lock:
                self._sending = False
                self._idle.notify_all()

    async def _send_batch(self, batch: list[tuple[list[str], dict[str, Any], BaseChannelLayer]]) -> None:
        """Send in waves: concurrently, except that a group's pushes go out one after another, in order."""
        waves = _waves(batch)
        for index, wave in enumerate(waves):
            outcomes = await asyncio.gather(*(_send(layer, groups, event) for groups, event, layer in wave))
            failures = [outcome for outcome in outcomes if outcome is not None]
            if failures:
                _warn_failed([group for groups, _, _ in wave for group in groups], failures[0])
                with self._lock:
                    dropped = sum(len(later) for later in waves[index + 1 :]) + len(self._items)
                    self._items.clear()
                if dropped:
                    logger.warning(
                        "Dropped %d queued live push(es) after a failure; clients catch up when they sync.", dropped
                    )
                return


def _waves(batch: list[tuple[list[str], dict[str, Any], Any]]) -> list[list[tuple[list[str], dict[str, Any], Any]]]:
    """Split a batch so no group appears twice in a wave, each push after any earlier one to its groups."""
    waves: list[list[tuple[list[str], dict[str, Any], Any]]] = []
    last_wave: dict[str, int] = {}
    for item in batch:
        index = 1 + max((last_wave.get(group, -1) for group in item[0]), default=-1)
        if index == len(waves):
            waves.append([])
        waves[index].append(item)
        for group in item[0]:
            last_wave[group] = index
    return waves


async def _send(channel_layer: BaseChannelLayer, groups: Sequence[str], event: dict[str, Any]) -> BaseException | None:
    """One push to its groups within PUSH_TIMEOUT; the failure, if any, instead of raising it."""
    try:
        # Each copy names its group: a process's fan-out routes it to that group's sockets.
        sends = (channel_layer.group_send(group, {**event, "group": group}) for group in groups)
        await asyncio.wait_for(asyncio.gather(*sends), app_settings.PUSH_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any layer failure must not fail the caller
        return exc
    return None


_queue = _PushQueue()
atexit.register(flush)
