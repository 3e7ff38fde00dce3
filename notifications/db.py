"""Database reads from async code: side by side on a networked database, in one thread on SQLite.

Channels runs every ``database_sync_to_async`` call of a process in one thread,
one after another. A connection storm's reads (session, user, auth groups,
unread count) then queue behind each other: with 1 ms between Daphne and
PostgreSQL, 5,000 sockets opening at once all timed out in that queue; run
side by side, each thread with its own connection from the pool, all opened
(bench/RESULTS.md). SQLite answers in-process, so extra threads only contend
for the GIL (measured slower): there the reads stay in Channels' one thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections


def concurrent_read(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """``func`` (database reads needing no transaction with other calls) as a coroutine function."""

    async def run(*args: Any, **kwargs: Any) -> Any:
        in_process = connections[DEFAULT_DB_ALIAS].vendor == "sqlite"
        return await database_sync_to_async(func, thread_sensitive=in_process)(*args, **kwargs)

    return run
