"""Publishing to groups: the one way code sends to the sockets (the fan-out, fanout.py, receives).

A send reaches one channel-layer group per audience (a user, an auth group or
everyone; names in group_names.py), never one message per recipient. Callers
pass the frame text encoded once, so the fan-out forwards it without
re-serializing it per socket.

Sync callers (views, commands, workers) ``publish()``: after the current
transaction commits (at once outside one), through the queue and event loop
thread in ``publisher.py``, queued, not awaited. Nothing is pushed for a write
that rolls back, and no caller writes ``transaction.on_commit`` by hand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from channels.layers import BaseChannelLayer, get_channel_layer
from django.db import transaction

from notifications import group_names, publisher
from notifications.conf import app_settings
from notifications.publisher import run_on_publisher

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Channel-layer event types. Namespaced so they cannot collide with handlers
# of apps that subclass our consumer.
FRAME_EVENT = "notifications.frame"  # a frame the fan-out writes to the browser as it is
CONTROL_EVENT = "notifications.control"  # an instruction for the consumer itself


class Control:
    """What a control event tells the sockets that receive it."""

    LOGGED_OUT = "logged_out"  # this session logged out: close (4401)
    DEACTIVATED = "deactivated"  # the user was deactivated: close (4401)
    TOKENS_REVOKED = "tokens_revoked"  # close sockets that signed in with a token (4401)
    GROUPS_CHANGED = "groups_changed"  # re-read the user's auth groups and re-join
    REVALIDATE = "revalidate"  # re-check the login now (the password changed): close (4401) if it ended


def control(groups: Sequence[str], action: str) -> None:
    """Tell the sockets in ``groups`` to act (see Control), after the current transaction commits."""
    publish_event(groups, {"type": CONTROL_EVENT, "action": action})


def layer() -> BaseChannelLayer | None:
    return get_channel_layer(app_settings.CHANNEL_LAYER)


async def apublish_event(groups: Sequence[str], event: dict[str, Any]) -> bool:
    """Send a channel-layer event to groups from async code, at once; False (and a warning) on failure."""
    channel_layer = layer()
    if channel_layer is None or not groups:
        return channel_layer is not None
    failure = await publisher.send_to_groups(channel_layer, groups, event)
    if failure is not None:
        publisher.warn_failed(groups, failure)
    return failure is None


async def apublish(groups: Sequence[str], frame: str) -> bool:
    """Send an encoded browser frame to groups from async code (see apublish_event)."""
    return await apublish_event(groups, {"type": FRAME_EVENT, "frame": frame})


def publish_event(groups: Sequence[str], event: dict[str, Any]) -> None:
    """Queue a channel-layer event for groups from sync code, once the current transaction commits.

    Inside ``transaction.atomic()`` the push waits for the commit (and is
    dropped on rollback); outside one it is queued at once. It returns without
    waiting for Redis: a group's events are sent in the order they were queued,
    each bounded by PUSH_TIMEOUT; a failure is logged (clients catch up through
    sync). Call ``flush()`` to wait.
    """
    if groups:
        groups = list(groups)
        transaction.on_commit(lambda: _enqueue(groups, event), robust=True)


def publish(groups: Sequence[str], frame: str) -> None:
    """Queue an encoded browser frame for groups from sync code, after commit (see publish_event)."""
    publish_event(groups, {"type": FRAME_EVENT, "frame": frame})


def _enqueue(groups: list[str], event: dict[str, Any]) -> None:
    channel_layer = layer()
    if channel_layer is not None:
        publisher.enqueue(groups, event, channel_layer)


def flush(timeout: float | None = None) -> bool:
    """Wait until every queued publish has been sent (or given up); False if ``timeout`` ran out first.

    For processes about to exit or tests that must see a push land; it also runs at exit.
    """
    return publisher.flush(timeout)


def layer_problem() -> str | None:
    """None when the channel layer answers within PUSH_TIMEOUT, else a short description."""
    timeout = float(app_settings.PUSH_TIMEOUT)

    async def probe() -> None:
        channel_layer = layer()
        if channel_layer is None:
            raise RuntimeError("no channel layer is configured")
        # A send to a group no one joins: a real round trip, no message left behind.
        event = {"type": "notifications.healthz"}
        await asyncio.wait_for(channel_layer.group_send(group_names.layer_group(group_names.healthz()), event), timeout)

    try:
        run_on_publisher(probe())
    except Exception as exc:  # noqa: BLE001 - every failure is reported the same way
        logger.warning("Channel layer health check failed: %s: %s", type(exc).__name__, exc)
        return type(exc).__name__
    return None


# Seconds between attempts to reach a channel layer that failed (doubling, capped).
RETRY_FIRST, RETRY_MAX = 0.5, 5.0


async def receive_or_recover(
    receive: Callable[[], Awaitable[T]], rejoin: Callable[[], Awaitable[None]], *, who: str
) -> T | None:
    """What ``receive()`` returns; across a layer outage, retry with backoff until ``rejoin``
    (re-joining the groups a Redis restart forgot) succeeds, then None: "events may have been lost"."""
    delay, lost = RETRY_FIRST, False
    while True:
        try:
            return await receive()
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
