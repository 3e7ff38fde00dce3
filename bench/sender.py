"""What ``notify()`` costs the process that calls it: CPU per targeted call, and per broadcast by audience size.

Runs in one process against a private Redis (pushes really go out, through the
publisher thread, whose CPU is counted too: it is the sender's). Prints, for
example:

    targeted notify(user): 0.42 ms CPU per call, 2,350 calls/s (5,000 calls, postgresql)
    notify(EVERYONE) to 1,000 users: 12.9 ms CPU, 14.1 ms wall (median of 5)

Usage (an empty PostgreSQL database you can throw away, or a temporary SQLite):

    .venv/bin/python bench/sender.py --database-url postgres://postgres@127.0.0.1:5432/sender_bench
    .venv/bin/python bench/sender.py --audiences 1000,10000,100000 --profile

``--profile`` prints the functions where the targeted calls spend their time (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chaos import setup_django  # noqa: E402 - needs the path above


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="an empty database (default: a temporary SQLite)")
    parser.add_argument("--calls", type=int, default=5000, help="targeted calls to time")
    parser.add_argument("--users", type=int, default=1000, help="recipients of the targeted calls")
    parser.add_argument("--audiences", default="1000,10000", help="broadcast audience sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="broadcasts timed per audience size")
    parser.add_argument("--profile", action="store_true", help="profile the targeted calls")
    return parser.parse_args()


def ensure_users(count: int) -> list:
    """At least ``count`` active users named bench-<n> (created in bulk), returned in order."""
    from django.contrib.auth.models import User

    have = User.objects.filter(username__startswith="bench-").count()
    if have < count:
        User.objects.bulk_create(
            [User(username=f"bench-{n}", password="!") for n in range(have, count)], batch_size=5000
        )
    return list(User.objects.filter(username__startswith="bench-").order_by("pk")[:count])


def set_audience(size: int) -> None:
    """Exactly ``size`` active users (the first ones; any others inactive): EVERYONE is this many."""
    from django.contrib.auth.models import User

    last = ensure_users(size)[-1].pk
    User.objects.filter(pk__lte=last).update(is_active=True)
    User.objects.filter(pk__gt=last).update(is_active=False)


def timed(call) -> tuple[float, float]:
    """(CPU seconds of the whole process, wall seconds) spent in ``call()`` and its pushes."""
    from notifications import realtime

    cpu, wall = time.process_time(), time.perf_counter()
    call()
    realtime.flush(timeout=60)
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> int:
    args = parse_args()
    workdir = tempfile.mkdtemp(prefix="sender-")
    setup_django(args.database_url or f"sqlite:///{Path(workdir) / 'sender.sqlite3'}")

    from django.db import connection
    from django.test import override_settings

    from notifications import EVERYONE, notify
    from notifications.testing import RedisServer

    redis = RedisServer.private()
    layers = override_settings(CHANNEL_LAYERS=redis.channel_layers())
    layers.enable()
    try:
        users = ensure_users(args.users)
        for user in users[:200]:  # warm up: imports, caches, the publisher thread
            notify(user, title="warm-up")

        def targeted() -> None:
            for n in range(args.calls):
                notify(users[n % len(users)], title="Build finished", body="All 212 tests passed.")

        profile = cProfile.Profile() if args.profile else None
        if profile:
            profile.enable()
        cpu, wall = timed(targeted)
        if profile:
            profile.disable()
        print(
            f"targeted notify(user): {cpu / args.calls * 1000:.3f} ms CPU per call, "
            f"{args.calls / wall:,.0f} calls/s ({args.calls:,} calls, {connection.vendor})"
        )
        if profile:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(30)

        for size in [int(s) for s in args.audiences.split(",") if s]:
            set_audience(size)
            runs = [timed(lambda: notify(EVERYONE, title="Deploy at 17:00")) for _ in range(args.repeat)]
            print(
                f"notify(EVERYONE) to {size:,} users: {statistics.median(c for c, _ in runs) * 1000:.1f} ms CPU, "
                f"{statistics.median(w for _, w in runs) * 1000:.1f} ms wall (median of {args.repeat})"
            )
    finally:
        layers.disable()
        redis.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
