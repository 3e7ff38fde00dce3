"""Shared state across server processes, for apps built on this one (presence, connection counts).

With a Redis channel layer (core or pub/sub), ``redis_client()`` is a redis-py
asyncio client on the same Redis, for the current event loop, and ``key()``
namespaces keys under the layer's prefix and the site's namespace
(notifications/namespace.py). With another layer (the in-memory one under
``make run`` without Redis) it is None: state then lives in the process,
which is all that layer can deliver to anyway.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any

from channels_redis.utils import create_pool, decode_hosts
from redis import asyncio as aioredis

from notifications import realtime, redis_layer
from notifications.namespace import key_prefix

# Clients of our own for layers that do not lend theirs (pub/sub): one per event loop.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def redis_client() -> Any | None:
    """The current event loop's Redis client on the channel layer's Redis, or None without a Redis layer."""
    layer = realtime.layer()
    config = redis_layer.pubsub_config(layer)
    if config is None:  # the core layer lends its per-loop pool
        return redis_layer.lent_connection(layer) if redis_layer.is_core(layer) else None
    loop = asyncio.get_running_loop()
    if loop not in _clients:
        _clients[loop] = aioredis.Redis(connection_pool=create_pool(decode_hosts(config.get("hosts"))[0]))
    return _clients[loop]


def key(*parts: object) -> str:
    """A Redis key under the channel layer's prefix and the site's namespace, e.g. key("presence", "lobby")."""
    return redis_layer.key_prefix(realtime.layer()) + key_prefix() + ":".join(str(part) for part in parts)


Command = redis_layer.Command


async def together(redis: Any, commands: Sequence[Command]) -> list[Any]:
    """Run ``commands`` atomically and return their results, sharing one round trip with other callers.

    Callers in the same event-loop turn go out in one MULTI/EXEC pipeline. A
    storm of connections (every page reconnecting after a restart) otherwise
    takes one pooled Redis connection per socket, opening hundreds of them.
    """
    batches = _batches.get(redis)
    if batches is None:
        batches = _batches[redis] = _Batches()
    return await batches.run(redis, commands)


class _Batches:
    def __init__(self) -> None:
        self.waiting: list[tuple[Sequence[Command], asyncio.Future[list[Any]]]] = []
        self.sending: set[asyncio.Task[None]] = set()  # a reference, so a send in flight is not collected

    async def run(self, redis: Any, commands: Sequence[Command]) -> list[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self.waiting.append((commands, future))
        if len(self.waiting) == 1:
            task = loop.create_task(self._send(redis))
            self.sending.add(task)
            task.add_done_callback(self.sending.discard)
        return await future

    async def _send(self, redis: Any) -> None:
        waiting, self.waiting = self.waiting, []
        try:
            async with redis.pipeline(transaction=True) as pipe:
                for commands, _ in waiting:
                    for name, args in commands:
                        getattr(pipe, name)(*args)
                results = await pipe.execute()
        except BaseException as exc:  # every caller learns of the failure; none waits forever
            for _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for commands, future in waiting:
            if not future.done():
                future.set_result(results[start : start + len(commands)])
            start += len(commands)


# One batch queue per Redis client (each client belongs to one event loop).
_batches: weakref.WeakKeyDictionary[Any, _Batches] = weakref.WeakKeyDictionary()
