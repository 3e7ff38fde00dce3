"""Chaos run: N clients as M users, K sends of every audience, Redis and Daphne restarted at random.

Then every client's page is compared with the database. One line sums it up:

    sent X, expected Y deliveries, received Y, missing 0, duplicated 0

Usage (loopback only, bounded in time and count; a private Redis, Daphne and
SQLite database of its own, or --database-url for an empty PostgreSQL database
you can throw away):

    .venv/bin/python bench/chaos.py                   # the defaults
    .venv/bin/python bench/chaos.py --clients 8 --users 4 --sends 60 --rate 15 --faults 2 --seed 1  # CI

Exit status 1 when anything is missing, duplicated or delivered to the wrong user.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=60, help="sockets (N)")
    parser.add_argument("--users", type=int, default=20, help="users the clients sign in as (M)")
    parser.add_argument("--sends", type=int, default=600, help="notify() calls, audiences mixed (K)")
    parser.add_argument("--rate", type=float, default=40.0, help="sends per second")
    parser.add_argument("--faults", type=int, default=6, help="Redis and Daphne restarts during the sends")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds to wait for clients to catch up")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--database-url", default=None, help="an empty database to use (default: a temporary SQLite)")
    return parser.parse_args()


def setup_django(database_url: str, *, log_level: str = "ERROR") -> None:
    """Django on ``database_url``, migrated, with no Redis guessed (the run starts its own).

    ``log_level``: ERROR by default, since failed pushes during the faults are expected.
    """
    os.environ["DATABASE_URL"] = database_url
    os.environ.update({"DJANGO_SETTINGS_MODULE": "project.settings", "DEBUG": "0", "REDIS_AUTODETECT": "0"})
    os.environ.setdefault("LOG_LEVEL", log_level)
    os.environ.setdefault("SECRET_KEY", "bench-run-only")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main() -> int:
    args = parse_args()
    rng = random.Random(args.seed)
    workdir = tempfile.mkdtemp(prefix="chaos-")
    setup_django(args.database_url or f"sqlite:///{Path(workdir) / 'chaos.sqlite3'}")

    from django.contrib.auth.models import Group, User
    from django.test import override_settings

    from notifications import EVERYONE, notify
    from notifications.models import Delivery, Notification
    from notifications.pyclient import LiveInbox
    from notifications.testing import DaphneServer, RedisServer, session_cookie
    from project.testing import project_env

    redis = RedisServer.private()
    layers = override_settings(CHANNEL_LAYERS=redis.channel_layers(), NOTIFICATIONS={"PUSH_TIMEOUT": 0.3})
    layers.enable()
    server = DaphneServer.start(env=project_env(redis, LOG_LEVEL="ERROR"))
    groups = [Group.objects.get_or_create(name=f"chaos-{i}")[0] for i in range(3)]
    users = []
    for i in range(args.users):
        user, _ = User.objects.get_or_create(username=f"chaos-user-{i}")
        user.groups.set(rng.sample(groups, rng.randint(0, 2)))
        users.append(user)
    clients = []
    for i in range(args.clients):
        user = users[i % len(users)]
        inbox = LiveInbox(
            server.ws_url(),
            headers={"Cookie": session_cookie(user)},
            origin=server.origin,
            ping_interval=0.5,
            max_backoff=2.0,
        )
        clients.append((user, inbox.start()))
    for _user, inbox in clients:
        inbox.wait_connected(timeout=30)

    stop_chaos = threading.Event()
    faults: list[str] = []

    def chaos() -> None:
        spacing = args.sends / args.rate / (args.faults + 1)
        for _ in range(args.faults):
            if stop_chaos.wait(rng.uniform(0.5, 1.5) * spacing):
                return
            if rng.random() < 0.5:
                redis.stop()
                time.sleep(rng.uniform(0.1, 1.0))
                redis.resume()
                faults.append("redis restart")
            else:
                server.stop(kill=rng.random() < 0.5)
                time.sleep(rng.uniform(0.1, 1.0))
                server.resume()
                faults.append("daphne restart")

    chaos_thread = threading.Thread(target=chaos)
    chaos_thread.start()
    started = time.monotonic()
    sent = 0
    for index in range(args.sends):
        audience = rng.choice(["user", "users", "group", "everyone"])
        recipient = {
            "user": lambda: rng.choice(users),
            "users": lambda: rng.sample(users, min(3, len(users))),
            "group": lambda: rng.choice(groups),
            "everyone": lambda: EVERYONE,
        }[audience]()
        notify(recipient, title=f"chaos {index} ({audience})")
        sent += 1
        time.sleep(max(0.0, started + (index + 1) / args.rate - time.monotonic()))
    stop_chaos.set()
    chaos_thread.join()

    expected_by_user = {
        user.pk: set(Delivery.objects.filter(user=user).values_list("notification_id", flat=True)) for user in users
    }
    deadline = time.monotonic() + args.settle
    for user, inbox in clients:
        inbox.wait_for(expected_by_user[user.pk], timeout=max(0.1, deadline - time.monotonic()))

    expected = received = missing = duplicated = foreign = raw_duplicates = via_sync = 0
    for user, inbox in clients:
        want = expected_by_user[user.pk]
        shown = set(inbox.shown)
        expected += len(want)
        received += len(want & shown)
        missing += len(want - shown)
        foreign += len(shown - want)
        duplicated += sum(count - 1 for count in inbox.displayed.values())
        raw_duplicates += inbox.duplicated_frames
        via_sync += len(inbox.via_sync & want)
        inbox.stop()
    server.stop()
    layers.disable()
    redis.close()

    print(
        f"sent {sent}, expected {expected} deliveries, received {received}, missing {missing}, duplicated {duplicated}"
    )
    print(
        f"  ({len(clients)} clients as {len(users)} users; {Notification.objects.count()} stored; "
        f"faults: {', '.join(faults) or 'none'}; {via_sync} recovered through sync; "
        f"{raw_duplicates} repeated frames shown once; {foreign} shown to the wrong user)"
    )
    return 0 if missing == 0 and duplicated == 0 and foreign == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
