"""How many sockets each user has open, across every Daphne process, for the per-user limit.

With the Redis channel layer the count lives in Redis (a sorted set per user:
socket -> expiry, refreshed by each heartbeat, so sockets of a killed process
expire on their own). With the in-memory layer it is per process.

A socket's name starts with its process's id (``socket_name()``), and each
process keeps a short-lived "alive" key in Redis. When a user is over the
limit, sockets of processes whose key is gone (killed, crashed) are dropped
from the count at once instead of after SOCKET_TTL: a restarted server must
not refuse the tabs reconnecting to it. A graceful shutdown removes its
sockets itself (see shutdown.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from typing import Any

from notifications import sharedstate

logger = logging.getLogger(__name__)

# A socket not heard from (no ping) for this long no longer counts.
SOCKET_TTL = 90
# A process refreshes its "alive" key this often; it expires this long after the process died.
ALIVE_REFRESH, ALIVE_TTL = 5, 15

# This process, in the names of its sockets.
PROCESS = uuid.uuid4().hex[:12]
_keepalive: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = weakref.WeakKeyDictionary()


SOCKET_PREFIX = "socket!"


def socket_name() -> str:
    """A new socket's unique name in shared state, naming this process."""
    return f"{SOCKET_PREFIX}{PROCESS}.{uuid.uuid4().hex}"


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
    _keep_process_alive(redis)
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


async def forget_dead_processes(user_id: int) -> int:
    """Drop the user's sockets whose process is gone (no alive key); return how many remain.

    Asked only when the user is over the limit, so it costs nothing otherwise.
    """
    target = _redis_and_key(user_id)
    if target is None:
        return await count(user_id)
    redis, key = target
    members = [m.decode() if isinstance(m, bytes) else m for m in await redis.zrange(key, 0, -1)]
    processes = sorted({_process_of(member) for member in members} - {None, PROCESS})
    if processes:
        async with redis.pipeline(transaction=False) as pipe:
            for process in processes:
                pipe.exists(_alive_key(process))
            answers = await pipe.execute()
        dead = {process for process, exists in zip(processes, answers, strict=True) if not exists}
        stale = [member for member in members if _process_of(member) in dead]
        if stale:
            await redis.zrem(key, *stale)
            logger.info("Dropped %d socket(s) of %d stopped process(es) from a user's count", len(stale), len(dead))
    return await count(user_id)


def _process_of(member: str) -> str | None:
    name, dot, _rest = member.removeprefix(SOCKET_PREFIX).partition(".")
    return name if dot and member.startswith(SOCKET_PREFIX) else None


def _alive_key(process: str) -> str:
    return sharedstate.key("notifications", "process", process)


def _keep_process_alive(redis: Any) -> None:
    """Start (once per event loop) refreshing this process's alive key."""
    loop = asyncio.get_running_loop()
    task = _keepalive.get(loop)
    if task is None or task.done():
        _keepalive[loop] = loop.create_task(_refresh_alive(redis))


async def _refresh_alive(redis: Any) -> None:
    while True:
        try:
            await redis.set(_alive_key(PROCESS), 1, ex=ALIVE_TTL)
        except Exception as exc:  # noqa: BLE001 - Redis down: the count fails open meanwhile
            logger.debug("Could not refresh the process's alive key: %s", exc)
        await asyncio.sleep(ALIVE_REFRESH)


async def forget_this_process() -> None:
    """On a graceful shutdown: this process's sockets stop counting as alive at once."""
    redis = sharedstate.redis_client()
    if redis is not None:
        await redis.delete(_alive_key(PROCESS))
