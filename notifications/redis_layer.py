"""Everything this app relies on inside channels-redis, in one place.

Three things need more than the channel-layer API: the fan-out joins groups in
batches and drains its process channel in bulk (fanout.py), the publisher sends
a batch of group messages in two round trips per Redis host instead of four per
group, from a plain thread with a synchronous client on the layer's own hosts
(publisher.py, ``group_send_many``: an event loop cost more CPU than the sends),
and shared state reuses the layer's Redis, prefix and connections (sharedstate.py). Both use
names channels-redis does not document. They are used here only, listed in
``CORE_NAMES`` / ``PUBSUB_NAMES``; ``incompatibilities()`` reports any missing
from the installed release, the system check ``notifications.E019`` refuses to
run on such a release, and pyproject.toml allows only the range the suite runs
against (``TESTED_RANGE``).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import redis
import redis.sentinel
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
    "_map_channel_keys_to_connection",  # a group message as stored per channel key (group_send's own)
    "hosts",  # the decoded host configs its pools are made from (channels_redis.utils.create_pool)
    "prefix",
    "group_expiry",
    "expiry",
    "brpop_timeout",
)
# RedisPubSubChannelLayer keeps its CONFIG only here outside an event loop.
PUBSUB_NAMES = ("_kwargs",)

# A Redis command: its redis-py method name and arguments, e.g. ("zadd", (key, {member: score})).
Command = tuple[str, tuple[Any, ...]]

logger = logging.getLogger(__name__)

# channels-redis's group_send script, for many messages at once: drop each channel key's expired
# messages, then add the message unless the key is at capacity. Scores rise by a microsecond per
# message, so messages to one key keep the batch's order. KEYS: channel keys; ARGV: the messages,
# then the capacities, then the first score, the expiry cutoff and the key expiry.
SEND_MANY_LUA = """
local n = #KEYS
local score = tonumber(ARGV[2 * n + 1])
local cutoff = ARGV[2 * n + 2]
local expiry = ARGV[2 * n + 3]
local over_capacity = 0
for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, cutoff)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[n + i]) then
        redis.call('ZADD', KEYS[i], string.format('%.6f', score + i * 0.000001), ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""


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


_last_score = 0.0


def _scores(count: int) -> float:
    """The first of ``count`` scores a microsecond apart, above every score this process gave before:
    a later batch's messages never sort before an earlier one's (BZPOPMIN takes the lowest first)."""
    global _last_score
    first = max(time.time(), _last_score + 0.000001)
    _last_score = first + count * 0.000001
    return first


def group_send_many(
    layer: RedisChannelLayer, messages: Sequence[tuple[str, dict[str, Any]]], *, timeout: float
) -> None:
    """``group_send`` for many (group, message) pairs, from a thread without an event loop:
    each group's channels read in one pipelined round trip per Redis host, then every copy
    stored in one script call per host.

    The same messages channels-redis's ``group_send`` would store (expired members and
    messages dropped the same way, capacity respected), in order per channel key. No group
    may appear twice in one call (the publisher's waves see to that). ``timeout`` bounds
    each Redis round trip.
    """
    now = time.time()
    by_host: dict[int, list[str]] = collections.defaultdict(list)
    for group, _message in messages:
        assert layer.require_valid_group_name(group), "Group name not valid"
        by_host[layer.consistent_hash(group)].append(group)
    members: dict[str, list[str]] = {}
    for index, groups in by_host.items():
        pipe = sync_client(layer, index, timeout).pipeline(transaction=False)
        for group in groups:
            key = layer._group_key(group)
            pipe.zremrangebyscore(key, min=0, max=int(now) - layer.group_expiry)
            pipe.zrange(key, 0, -1)
        replies = pipe.execute()
        for group, channels in zip(groups, replies[1::2], strict=True):
            members[group] = [channel.decode("utf8") for channel in channels]
    keys: dict[int, list[Any]] = collections.defaultdict(list)
    payloads: dict[int, list[Any]] = collections.defaultdict(list)
    capacities: dict[int, list[Any]] = collections.defaultdict(list)
    for group, message in messages:
        hosts, stored, capacity = layer._map_channel_keys_to_connection(members[group], message)
        for index, channel_keys in hosts.items():
            for channel_key in channel_keys:
                keys[index].append(channel_key)
                payloads[index].append(stored[channel_key])
                capacities[index].append(capacity[channel_key])
    for index in keys:
        script = _send_script(layer, index, timeout)
        tail = [_scores(len(keys[index])), int(now) - int(layer.expiry), int(layer.expiry)]
        over = script(keys=keys[index], args=[*payloads[index], *capacities[index], *tail])
        if over:
            logger.info("%s of %s channel messages over capacity", over, len(keys[index]))


# Per process: synchronous clients (and the registered send script) per (host config, timeout). Keyed by
# the config, not the layer object: a layer made for other settings may reuse a collected one's id.
_sync_clients: dict[tuple[str, float], tuple[redis.Redis, Any]] = {}
_sync_lock = threading.Lock()
_sync_pid: int | None = None


def sync_client(layer: RedisChannelLayer, index: int, timeout: float) -> redis.Redis:
    """A blocking client on the layer's ``index``-th host, made as channels-redis makes its pools."""
    return _sync_entry(layer, index, timeout)[0]


def _send_script(layer: RedisChannelLayer, index: int, timeout: float) -> Any:
    return _sync_entry(layer, index, timeout)[1]


def _sync_entry(layer: RedisChannelLayer, index: int, timeout: float) -> tuple[redis.Redis, Any]:
    global _sync_pid
    key = (repr(sorted(layer.hosts[index].items())), timeout)
    with _sync_lock:
        if _sync_pid != os.getpid():  # first use, or a forked child: its own connections
            _sync_clients.clear()
            _sync_pid = os.getpid()
        if key not in _sync_clients:
            client = redis.Redis(connection_pool=_sync_pool(layer.hosts[index], timeout))
            _sync_clients[key] = (client, client.register_script(SEND_MANY_LUA))
        return _sync_clients[key]


def _sync_pool(host: dict[str, Any], timeout: float) -> redis.ConnectionPool:
    """channels_redis.utils.create_pool's three host forms, for the blocking client."""
    host = {**host, "socket_timeout": timeout, "socket_connect_timeout": timeout}  # PUSH_TIMEOUT bounds a push
    if "address" in host:
        address = host.pop("address")
        return redis.ConnectionPool.from_url(address, **host)
    master_name = host.pop("master_name", None)
    if master_name is not None:
        sentinels = host.pop("sentinels")
        sentinel = redis.sentinel.Sentinel(sentinels, sentinel_kwargs=host.pop("sentinel_kwargs", None))
        return redis.sentinel.SentinelConnectionPool(master_name, sentinel, **host)
    return redis.ConnectionPool(**host)
