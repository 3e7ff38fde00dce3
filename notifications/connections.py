"""How many sockets each user has open, across every Daphne process, for the per-user limit.

With the Redis channel layer the count lives in Redis (a sorted set per user:
socket -> expiry, refreshed by each heartbeat, so sockets of a killed process
expire on their own). With the in-memory layer it is per process.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from notifications import sharedstate

logger = logging.getLogger(__name__)

# A socket not heard from (no ping) for this long no longer counts.
SOCKET_TTL = 90

_local: dict[int, dict[str, float]] = {}


def _redis_and_key(user_id: int) -> tuple[Any, str] | None:
    redis = sharedstate.redis_client()
    return None if redis is None else (redis, sharedstate.key("notifications", "sockets", user_id))


async def add(user_id: int, channel_name: str) -> int:
    """Count this socket in; return how many the user has open now (this one included)."""
    now = time.time()
    target = _redis_and_key(user_id)
    if target is None:
        sockets = _local.setdefault(user_id, {})
        for name in [n for n, expires in sockets.items() if expires < now]:
            del sockets[name]
        sockets[channel_name] = now + SOCKET_TTL
        return len(sockets)
    redis, key = target
    results = await sharedstate.together(
        redis,
        [
            ("zremrangebyscore", (key, "-inf", now)),
            ("zadd", (key, {channel_name: now + SOCKET_TTL})),
            ("zcard", (key,)),
            ("expire", (key, SOCKET_TTL)),
        ],
    )
    return int(results[2])


async def touch(user_id: int, channel_name: str) -> None:
    """The socket is alive: keep counting it."""
    target = _redis_and_key(user_id)
    if target is None:
        _local.setdefault(user_id, {})[channel_name] = time.time() + SOCKET_TTL
        return
    redis, key = target
    await sharedstate.together(
        redis, [("zadd", (key, {channel_name: time.time() + SOCKET_TTL})), ("expire", (key, SOCKET_TTL))]
    )


async def remove(user_id: int, channel_name: str) -> None:
    target = _redis_and_key(user_id)
    if target is None:
        _local.get(user_id, {}).pop(channel_name, None)
        return
    redis, key = target
    await sharedstate.together(redis, [("zrem", (key, channel_name))])


async def count(user_id: int) -> int:
    """How many sockets the user has open now, across every process."""
    now = time.time()
    target = _redis_and_key(user_id)
    if target is None:
        return sum(1 for expires in _local.get(user_id, {}).values() if expires >= now)
    redis, key = target
    return int(await redis.zcount(key, now, "+inf"))
