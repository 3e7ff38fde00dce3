"""Churn run: do targeted notifications arrive live while other clients connect and disconnect fast?

Stable clients (one user each) stay connected and ping every few seconds; a
sender process calls ``notify(user)`` for them at a steady rate; meanwhile
churning clients (other users) loop connect -> hello -> close as fast as they
can, from a process of their own. Per window of the send stream it prints how
many notifications arrived live (within --late seconds) and the p99 delay,
then how many of the rest the server signalled with an immediate ``resync``:

    window 1: 300/300 live, p99 41 ms
    ...
    live 99.7% (598/600), 2 signalled by resync, 0 neither; 31,200 churn cycles (104/s); 0 resync frames

Usage (loopback only, bounded in time; a private Redis and Daphne, and a
temporary SQLite database or --database-url for an empty PostgreSQL database
you can throw away):

    .venv/bin/python bench/churn.py                       # 60 s
    .venv/bin/python bench/churn.py --seconds 300 --database-url postgres://postgres@127.0.0.1/churn

Exit status 1 when fewer than --min-live of the notifications arrived live, or
one that did not arrive live was not signalled by a resync either.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chaos import setup_django  # noqa: E402 - needs the path above


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the sender sends")
    parser.add_argument("--stable", type=int, default=30, help="stable clients (one user each)")
    parser.add_argument("--churners", type=int, default=150, help="churning clients (one user each)")
    parser.add_argument("--rate", type=float, default=10.0, help="targeted notifications per second")
    parser.add_argument("--ping", type=float, default=5.0, help="seconds between a stable client's pings")
    parser.add_argument("--window", type=float, default=30.0, help="seconds of sending per reported window")
    parser.add_argument("--min-live", type=float, default=0.99, help="fraction that must arrive live")
    parser.add_argument("--late", type=float, default=5.0, help="seconds after which an arrival is not live")
    parser.add_argument("--database-url", default=None, help="an empty database (default: a temporary SQLite)")
    parser.add_argument("--churn", default=None, help=argparse.SUPPRESS)  # the churning process (internal)
    return parser.parse_args()


# --- the churning process -------------------------------------------------------------


def churn(spec_path: str) -> None:
    """Connect, wait for hello, close, as fast as possible, per client, until the stop file appears."""
    from websockets.asyncio.client import connect

    spec = json.loads(Path(spec_path).read_text())
    stop = Path(spec["stop"])
    cycles = 0

    async def one(cookie: str) -> None:
        nonlocal cycles
        while not stop.exists():
            try:
                async with connect(
                    spec["url"], additional_headers={"Cookie": cookie}, origin=spec["origin"], open_timeout=30
                ) as ws:
                    while json.loads(await asyncio.wait_for(ws.recv(), 30)).get("type") != "hello":
                        pass
                cycles += 1
            except Exception:  # noqa: BLE001 - a refused or dropped cycle is churn too
                await asyncio.sleep(0.05)

    async def main() -> None:
        await asyncio.gather(*(one(cookie) for cookie in spec["cookies"]))

    asyncio.run(main())
    Path(spec["result"]).write_text(str(cycles))


# --- the stable clients ---------------------------------------------------------------------


@dataclass
class Stable:
    """One stable client: what it received live, and when the server told it to resync."""

    user_id: int
    cookie: str
    live: dict[int, float] = field(default_factory=dict)  # notification id -> arrival time
    resyncs: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def run_stable(clients: list[Stable], url: str, origin: str, ping: float, stop: threading.Event) -> None:
    from websockets.asyncio.client import connect

    async def one(client: Stable, ready: asyncio.Event) -> None:
        async with connect(url, additional_headers={"Cookie": client.cookie}, origin=origin) as ws:

            async def pinger() -> None:
                while True:
                    await asyncio.sleep(ping)
                    await ws.send(json.dumps({"type": "ping", "ref": 1}))

            task = asyncio.create_task(pinger())
            try:
                while not stop.is_set():
                    try:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                    except TimeoutError:
                        continue
                    kind = frame.get("type")
                    if kind == "hello":
                        ready.set()
                    elif kind == "notification":
                        client.live.setdefault(frame["notification"]["id"], time.monotonic())
                    elif kind == "resync":
                        client.resyncs.append(time.monotonic())
                    elif kind == "error":
                        client.errors.append(frame.get("code", "?"))
            finally:
                task.cancel()

    readies = [asyncio.Event() for _ in clients]
    tasks = [asyncio.create_task(one(client, ready)) for client, ready in zip(clients, readies, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 60)
    stable_ready.set()
    await asyncio.gather(*tasks)


stable_ready = threading.Event()


def main() -> int:
    args = parse_args()
    if args.churn:
        churn(args.churn)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="churn-"))
    setup_django(args.database_url or f"sqlite:///{workdir / 'churn.sqlite3'}", log_level="WARNING")

    from django.contrib.auth.models import User
    from django.test import override_settings

    from notifications import notify, realtime
    from notifications.testing import DaphneServer, RedisServer, session_cookie
    from project.testing import project_env

    redis = RedisServer.private()
    # The sender's layer as the server's (project/settings.py): process channels hold 100,000.
    layers = override_settings(CHANNEL_LAYERS=redis.channel_layers(process_capacity=100_000))
    layers.enable()
    server = DaphneServer.start(env=project_env(redis, LOG_LEVEL="WARNING"))
    stable = []
    for i in range(args.stable):
        user, _ = User.objects.get_or_create(username=f"churn-stable-{i}")
        stable.append(Stable(user_id=user.pk, cookie=session_cookie(user)))
    churn_cookies = [
        session_cookie(User.objects.get_or_create(username=f"churn-moving-{i}")[0]) for i in range(args.churners)
    ]
    spec = {
        "url": server.ws_url(),
        "origin": server.origin,
        "cookies": churn_cookies,
        "stop": str(workdir / "stop"),
        "result": str(workdir / "cycles"),
    }
    (workdir / "spec.json").write_text(json.dumps(spec))

    stop = threading.Event()
    receiver = threading.Thread(
        target=lambda: asyncio.run(run_stable(stable, server.ws_url(), server.origin, args.ping, stop)), daemon=True
    )
    receiver.start()
    if not stable_ready.wait(90):
        raise RuntimeError("the stable clients did not connect")
    churner = subprocess.Popen([sys.executable, __file__, "--churn", str(workdir / "spec.json")], cwd=ROOT)
    time.sleep(2)  # let the churn reach its pace before the measured sends
    churn_started = time.monotonic()

    sent: list[tuple[int, int, float]] = []  # (notification id, client index, sent at)
    started = time.monotonic()
    total = int(args.seconds * args.rate)
    for index in range(total):
        client = index % len(stable)
        notification = notify(User(pk=stable[client].user_id), title=f"churn {index}")
        sent.append((notification.pk, client, time.monotonic()))
        time.sleep(max(0.0, started + (index + 1) / args.rate - time.monotonic()))
    realtime.flush(10)
    time.sleep(3)  # the last frames in flight (measured, not waited on: late ones count as not live)
    Path(spec["stop"]).touch()
    churner.wait(60)
    churn_seconds = time.monotonic() - churn_started
    stop.set()
    receiver.join(10)
    cycles = int((workdir / "cycles").read_text() or 0) if (workdir / "cycles").exists() else 0
    server.stop()
    layers.disable()
    redis.close()

    def arrived_live(pk: int, client: int, at: float) -> bool:
        return stable[client].live.get(pk, float("inf")) - at <= args.late

    per_window = max(1, int(args.window * args.rate))
    live = signalled = neither = 0
    for start in range(0, len(sent), per_window):
        window = sent[start : start + per_window]
        arrived = sum(1 for item in window if arrived_live(*item))
        delays = sorted(stable[client].live[pk] - at for pk, client, at in window if pk in stable[client].live)
        p99 = f", p99 {1000 * delays[int(0.99 * (len(delays) - 1))]:.0f} ms" if delays else ""
        print(f"window {start // per_window + 1}: {arrived}/{len(window)} live{p99}")
    for pk, client, at in sent:
        if arrived_live(pk, client, at):
            live += 1
        elif any(at <= when <= at + 5 for when in stable[client].resyncs):
            signalled += 1
        else:
            neither += 1
    resyncs = sum(len(client.resyncs) for client in stable)
    print(
        f"live {100 * live / len(sent):.1f}% ({live}/{len(sent)}), {signalled} signalled by resync, {neither} neither; "
        f"{cycles:,} churn cycles ({cycles / churn_seconds:.0f}/s); {resyncs} resync frames"
    )
    errors = [code for client in stable for code in client.errors]
    if errors:
        print(f"error frames on stable clients: {errors[:10]}")
    return 0 if live >= args.min_live * len(sent) and neither == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
