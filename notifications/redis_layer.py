"""Everything this app relies on inside channels-redis, in one place.

Two things need more than the channel-layer API: the fan-out joins groups in
batches and drains its process channel in bulk (fanout.py), and shared state
reuses the layer's Redis, prefix and connections (sharedstate.py). Both use
names channels-redis does not document. They are used here only, listed in
``CORE_NAMES`` / ``PUBSUB_NAMES``; ``incompatibilities()`` reports any missing
from the installed release, the system check ``notifications.E019`` refuses to
run on such a release, and pyproject.toml allows only the range the suite runs
against (``TESTED_RANGE``).
"""

from __future__ import annotations

import time
from typing import Any

from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

TESTED_RANGE = ">=4.3,<4.4"

# What RedisChannelLayer must have: undocumented helpers and attributes, and the key layout they imply.
CORE_NAMES = (
    "_group_key",  # the sorted set holding a group's channels
    "consistent_hash",  # which of the layer's hosts holds a name
    "connection",  # the layer's per-event-loop Redis pool for one host
    "non_local_name",  # a process channel's shared queue name
    "deserialize",  # a message as stored in that queue
    "require_valid_group_name",
    "receive_buffer",  # per-channel buffers the layer's own receive() reads
    "prefix",
    "group_expiry",
    "brpop_timeout",
)
# RedisPubSubChannelLayer keeps its CONFIG only here outside an event loop.
PUBSUB_NAMES = ("_kwargs",)

# A Redis command: its redis-py method name and arguments, e.g. ("zadd", (key, {member: score})).
Command = tuple[str, tuple[Any, ...]]


def incompatibilities(core: type | None = None, pubsub: type | None = None) -> list[str]:
    """The names this app needs that the installed channels-redis (or the given classes) lack; empty if none."""
    unreachable = ["redis://127.0.0.1:9"]  # constructing a layer connects nowhere
    missing = []
    for layer_class, names in (
        (core or RedisChannelLayer, CORE_NAMES),
        (pubsub or RedisPubSubChannelLayer, PUBSUB_NAMES),
    ):
        try:
            layer = layer_class(hosts=unreachable)
        except Exception as exc:  # noqa: BLE001 - a changed constructor is an incompatibility too
            missing.append(f"{layer_class.__name__}(hosts=...) fails: {type(exc).__name__}: {exc}")
            continue
        missing += [f"{layer_class.__name__}.{name}" for name in names if not hasattr(layer, name)]
    return missing


def is_core(layer: Any) -> bool:
    return isinstance(layer, RedisChannelLayer)


def pubsub_config(layer: Any) -> dict[str, Any] | None:
    """The pub/sub layer's CONFIG, else None."""
    return layer._kwargs if isinstance(layer, RedisPubSubChannelLayer) else None


def key_prefix(layer: Any) -> str:
    """The prefix the layer puts before its Redis keys ("" for a layer that is not channels-redis)."""
    config = pubsub_config(layer)
    return getattr(layer, "prefix", "") if config is None else config.get("prefix", "asgi")


def lent_connection(layer: RedisChannelLayer) -> Any:
    """The core layer's Redis client for its first host, on the current event loop."""
    return layer.connection(0)


def join_commands(layer: RedisChannelLayer, group: str, channel: str) -> tuple[Any, list[Command]]:
    """channels-redis's ``group_add`` as commands (and the client to run them on), so joins can be batched."""
    assert layer.require_valid_group_name(group), "Group name not valid"
    key = layer._group_key(group)
    commands: list[Command] = [("zadd", (key, {channel: time.time()})), ("expire", (key, layer.group_expiry))]
    return layer.connection(layer.consistent_hash(group)), commands


async def receive_batch(layer: RedisChannelLayer, channel: str, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` messages for the process channel ``channel``, in one Redis round trip.

    All of a layer's process channels share one sorted set, each message naming
    the channel(s) it is for in "__asgi_channel__". Messages for this process's
    other channels (an app using the layer directly) go to the layer's own
    receive buffers, where its ``receive()`` finds them.
    """
    process_channel = layer.non_local_name(channel)
    redis = layer.connection(layer.consistent_hash(process_channel))
    async with redis.pipeline(transaction=False) as pipe:
        pipe.bzpopmin(layer.prefix + process_channel, timeout=layer.brpop_timeout)
        pipe.zpopmin(layer.prefix + process_channel, limit - 1)
        first, rest = await pipe.execute()
    contents = ([first[1]] if first else []) + [member for member, _score in rest]
    mine = []
    for content in contents:
        message = layer.deserialize(content)
        channels = message.pop("__asgi_channel__", channel)
        channels = channels if isinstance(channels, list) else [channels]
        if channel in channels:
            mine.append(message)
        for other in channels:
            if other != channel:
                layer.receive_buffer[other].put_nowait(dict(message))
    return mine
