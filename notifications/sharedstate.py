"""Shared state across server processes, for apps built on this one (presence, connection counts).

With the Redis channel layer, ``redis_client()`` is a redis-py asyncio client on
the same Redis, for the current event loop, and ``key()`` namespaces keys under
the layer's prefix. With another layer (the in-memory one under ``make run``
without Redis) it is None: state then lives in the process, which is all that
layer can deliver to anyway.
"""

from __future__ import annotations

from typing import Any

from notifications import realtime


def redis_client() -> Any | None:
    """The current event loop's Redis client of the channel layer, or None without the Redis layer."""
    connection = getattr(realtime.layer(), "connection", None)  # channels_redis
    return connection(0) if connection is not None else None


def key(*parts: object) -> str:
    """A Redis key under the channel layer's prefix, e.g. key("presence", "lobby")."""
    prefix = getattr(realtime.layer(), "prefix", "")
    return prefix + ":".join(str(part) for part in parts)
