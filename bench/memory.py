"""Where an idle authenticated socket's memory goes, by allocation site.

    .venv/bin/python bench/memory.py [--sockets 500]

Opens N sockets in-process through the project's ASGI application (the real
middleware stack, a private Redis, a temporary SQLite database) with
``channels.testing.WebsocketCommunicator``, and compares ``tracemalloc``
snapshots taken before and after: the Python heap each socket adds, grouped
by the innermost frame outside asyncio that allocated it. The test harness's
own queues (``asgiref/testing.py``) are listed and are not part of a served
socket; Daphne's per-connection objects (Twisted, autobahn) are not included
(``bench/fanout.py`` measures the whole process's RSS).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import sys
import tempfile
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--top", type=int, default=16)
    args = parser.parse_args()
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DEBUG": "0",
            "SECRET_KEY": "bench-only",
            "REDIS_AUTODETECT": "0",
            "LOG_LEVEL": "ERROR",
            "ALLOWED_HOSTS": "testserver",
            "DATABASE_URL": f"sqlite:///{tempfile.mkdtemp(prefix='memory-')}/bench.sqlite3",
            "NOTIFICATIONS_JSON": '{"MAX_CONNECTIONS_PER_USER": null}',
        }
    )
    from notifications.testing import RedisServer
    from project.testing import redis_env

    redis = RedisServer.private()
    try:
        os.environ.update(redis_env(redis))
        import django

        django.setup()
        return asyncio.run(_measure(args.sockets, args.top))
    finally:
        redis.close()


async def _measure(count: int, top: int) -> int:
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from notifications.testing import session_cookie
    from project.asgi import application

    cookies = await database_sync_to_async(_users_with_sessions)(count + 1, session_cookie)

    async def open_one(cookie: str) -> WebsocketCommunicator:
        headers = [(b"cookie", cookie.encode()), (b"origin", b"http://testserver"), (b"host", b"testserver")]
        socket = WebsocketCommunicator(application, "/ws/notifications/", headers=headers)
        connected, _ = await socket.connect(timeout=30)
        assert connected, "the socket was refused"
        await socket.receive_json_from(timeout=30)  # hello
        return socket

    sockets = [await open_one(cookies[0])]  # the first creates what every socket shares
    gc.collect()
    tracemalloc.start(25)
    before = tracemalloc.take_snapshot()
    sockets += [await open_one(cookie) for cookie in cookies[1:]]
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()

    sites: dict[str, int] = {}
    for stat in after.compare_to(before, "traceback"):
        frames = [frame for frame in stat.traceback if "/asyncio/" not in frame.filename]
        site = f"{_short(frames[-1].filename)}:{frames[-1].lineno}" if frames else "?"
        sites[site] = sites.get(site, 0) + stat.size_diff
    total = sum(sites.values())
    print(f"{count} sockets: {total / count / 1024:.1f} KiB of Python heap per socket\n")
    print("| bytes per socket | allocated by (innermost frame outside asyncio) |\n|---:|---|")
    for site, size in sorted(sites.items(), key=lambda item: -item[1])[:top]:
        print(f"| {size / count:,.0f} | `{site}` |")
    for socket in sockets:
        await socket.disconnect()
    return 0


def _users_with_sessions(count: int, session_cookie: object) -> list[str]:
    from django.contrib.auth.models import User
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    User.objects.bulk_create([User(username=f"memory{i}") for i in range(count)])
    return [session_cookie(user) for user in User.objects.order_by("pk")]  # type: ignore[operator]


def _short(filename: str) -> str:
    """A path relative to site-packages, the project or the standard library."""
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return re.sub(r".*/lib/python3\.\d+/", "", filename)


if __name__ == "__main__":
    sys.exit(main())
