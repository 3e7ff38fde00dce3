"""Shared state across server processes, for apps built on this one (presence, connection counts).

With a Redis channel layer (core or pub/sub), ``redis_client()`` is a redis-py
asyncio client on the same Redis, for the current event loop, and ``key()``
namespaces keys under the layer's prefix. With another layer (the in-memory one
under ``make run`` without Redis) it is None: state then lives in the process,
which is all that layer can deliver to anyway.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import create_pool, decode_hosts
from redis import asyncio as aioredis

from notifications import realtime

# Clients of our own for layers that do not lend theirs (pub/sub): one per event loop.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def redis_client() -> Any | None:
    """The current event loop's Redis client on the channel layer's Redis, or None without a Redis layer."""
    layer = realtime.layer()
    config = _pubsub_config(layer)
    if config is None:
        connection = getattr(layer, "connection", None)  # the core layer lends its per-loop pool
        return connection(0) if connection is not None else None
    loop = asyncio.get_running_loop()
    if loop not in _clients:
        _clients[loop] = aioredis.Redis(connection_pool=create_pool(decode_hosts(config.get("hosts"))[0]))
    return _clients[loop]


def key(*parts: object) -> str:
    """A Redis key under the channel layer's prefix, e.g. key("presence", "lobby")."""
    layer = realtime.layer()
    config = _pubsub_config(layer)
    prefix = getattr(layer, "prefix", "") if config is None else config.get("prefix", "asgi")
    return prefix + ":".join(str(part) for part in parts)


def _pubsub_config(layer: Any) -> dict[str, Any] | None:
    """The pub/sub layer's CONFIG (it keeps no attributes of its own outside an event loop), else None."""
    return layer._kwargs if isinstance(layer, RedisPubSubChannelLayer) else None
