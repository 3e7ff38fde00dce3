"""Fan-out benchmark: this product vs a stock Channels app vs a bare ``websockets`` server.

    .venv/bin/python bench/fanout.py            # the full run (a few minutes)
    .venv/bin/python bench/fanout.py --quick    # seconds: the CI smoke run

Each server runs pinned to core 0 (``taskset``), the load generator and the
senders on core 1; loopback only, a private Redis. Ours is a real Daphne
process with authenticated sessions, and every message is a ``notify()`` call
(database write, deliveries, push after commit); "broadcast" sends to an
auth group holding exactly the connected users. Prints a markdown table:
connections and time to open them, memory per connection, frames expected,
received live, lost, latency from the send call to the frame's arrival, delivered
frames/s and server CPU. For ours, "after sync" counts what a page still missed
once it synced (the guarantee: 0).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    server: str
    workload: str
    connections: int = 0
    open_seconds: float = 0.0
    kib_per_connection: float = 0.0
    expected: int = 0
    received: int = 0
    latencies: list[float] = field(default_factory=list)
    window: float = 0.0
    cpu_seconds: float = 0.0
    after_sync_missing: int | None = None
    failed_opens: int = 0

    def row(self) -> str:
        lat = sorted(self.latencies)

        def ms(p: float) -> str:
            return f"{lat[min(len(lat) - 1, int(p * len(lat)))] * 1000:.1f}" if lat else "-"

        rate = f"{self.received / self.window:,.0f}" if self.window else "-"
        per_cpu = f"{self.received / self.cpu_seconds:,.0f}" if self.cpu_seconds else "-"
        cpu = f"{100 * self.cpu_seconds / self.window:.0f}%" if self.window else "-"
        synced = "-" if self.after_sync_missing is None else str(self.after_sync_missing)
        opened = f"{self.connections - self.failed_opens}" + (
            f" ({self.failed_opens} refused)" if self.failed_opens else ""
        )
        cells = [
            self.server,
            self.workload,
            opened,
            f"{self.open_seconds:.2f} s",
            f"{self.kib_per_connection:.0f} KiB",
            str(self.expected),
            str(self.received),
            str(self.expected - self.received),
            f"{ms(0.5)} / {ms(0.9)} / {ms(0.99)} / {ms(1.0)}",
            rate,
            cpu,
            per_cpu,
            synced,
        ]
        return "| " + " | ".join(cells) + " |"


HEADER = (
    "| server | workload | conns | open | mem/conn | expected | received live | lost live | "
    "latency ms p50 / p90 / p99 / max | delivered/s | server CPU | frames per CPU-s | missing after sync |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def proc_rss(*pids: int) -> int:
    """Resident memory of the processes, summed (bytes)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as status:
            total += next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    return total


def proc_cpu(*pids: int) -> float:
    """User + system CPU seconds of the processes, summed."""
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def pin(pid: int, core: int) -> None:
    subprocess.run(["taskset", "-a", "-p", "-c", str(core), str(pid)], check=True, capture_output=True)


class Clients:
    """N WebSocket clients on this process's loop; each frame's latency is measured from its send time."""

    def __init__(self, urls: list[str], headers: list[dict[str, str]], extract: object) -> None:
        self.urls, self.headers, self.extract = urls, headers, extract
        self.connections: list[object] = []
        self.latencies: list[float] = []
        self.seen: list[set[int]] = [set() for _ in urls]
        self.last_arrival = 0.0
        self.tasks: list[asyncio.Task] = []

    async def open(self, concurrency: int) -> float:
        """Open every client, ``concurrency`` at a time; failed opens are counted, not fatal."""
        from websockets.asyncio.client import connect

        gate = asyncio.Semaphore(concurrency)
        started = time.monotonic()

        async def one(index: int) -> object | None:
            async with gate:
                try:
                    return await connect(
                        self.urls[index], additional_headers=self.headers[index], max_size=2**22, open_timeout=60
                    )
                except Exception:  # noqa: BLE001 - reported as a refused open
                    return None

        opened = await asyncio.gather(*(one(i) for i in range(len(self.urls))))
        elapsed = time.monotonic() - started
        self.failed = sum(ws is None for ws in opened)
        self.connections = [ws for ws in opened if ws is not None]
        self.tasks = [asyncio.create_task(self._read(i, ws)) for i, ws in enumerate(opened) if ws is not None]
        return elapsed

    async def _read(self, index: int, ws: object) -> None:
        try:
            async for text in ws:  # type: ignore[attr-defined]
                now = time.time()
                frame = json.loads(text)
                if frame.get("type") == "sync" and frame.get("more"):  # follow a catch-up, as pages do
                    await ws.send(json.dumps({"type": "sync", "cursor": frame["cursor"]}))  # type: ignore[attr-defined]
                for seq, sent_at in self.extract(frame):
                    if seq not in self.seen[index]:
                        self.seen[index].add(seq)
                        self.latencies.append(now - sent_at)
                        self.last_arrival = now
        except Exception:  # noqa: BLE001 - a closed connection ends its reader
            pass

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self.connections), return_exceptions=True)  # type: ignore[attr-defined]


def ours_extract(frame: dict) -> list[tuple[int, float]]:
    items = [frame["notification"]] if frame.get("type") == "notification" else frame.get("notifications", [])
    return [(n["data"]["seq"], n["data"]["t"]) for n in items if "seq" in n.get("data", {})]


def plain_extract(frame: dict) -> list[tuple[int, float]]:
    return [(frame["seq"], frame["t"])] if "seq" in frame else []


async def settle(clients: Clients, expected: int, idle: float, limit: float = 180) -> None:
    """Wait until every expected frame arrived, or none arrived for ``idle`` seconds (bounded by ``limit``).

    A saturated server is still delivering its backlog: waiting on progress measures
    it instead of cutting it off.
    """
    deadline = time.monotonic() + limit
    count, last_progress = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_count = sum(len(s) for s in clients.seen)
        if now_count >= expected:
            return
        if now_count != count:
            count, last_progress = now_count, time.monotonic()
        elif time.monotonic() - last_progress > idle:
            return
        await asyncio.sleep(0.05)


def sender_process(spec: dict) -> int:
    """``--send``: notify() at a steady rate from a process of its own (an ordinary sync Django process).

    Sending from a thread of the load generator would make the pushes wait for the
    clients' event loop (one GIL); a web worker or a task runner has no such loop.
    """
    os.sched_setaffinity(0, {1})
    import django

    django.setup()
    from django.contrib.auth.models import Group, User

    from notifications import notify, realtime

    group = Group.objects.get(pk=spec["group"]) if spec.get("group") else None
    users = list(User.objects.filter(pk__in=spec.get("users", [])).order_by("pk"))
    started = time.time()
    for i in range(spec["total"]):
        notify(group or users[i % len(users)], title="b", data={"seq": i, "t": time.time()})
        time.sleep(max(0.0, started + (i + 1) / spec["rate"] - time.time()))
    realtime.flush()
    print(spec["total"])
    return 0


def delayed_database_url(url: str, delay_ms: float) -> str:
    """``url`` through bench/delayproxy.py (on core 1), which delays each answer by ``delay_ms``."""
    from urllib.parse import urlsplit, urlunsplit

    from notifications.testing import free_port, port_open, wait_until

    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        sys.exit("--database-delay-ms needs a PostgreSQL --database-url")
    listen = free_port()
    target = [parts.hostname or "127.0.0.1", str(parts.port or 5432)]
    proxy = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("delayproxy.py")), str(listen), *target, str(delay_ms)]
    )
    atexit.register(proxy.terminate)
    pin(proxy.pid, 1)
    wait_until(lambda: port_open(listen), timeout=10, what="the delay proxy")
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{listen}" if credentials else f"127.0.0.1:{listen}"
    return urlunsplit(parts._replace(netloc=netloc))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a few seconds, for CI")
    parser.add_argument("--send", default=None, help=argparse.SUPPRESS)  # the sender process (internal)
    parser.add_argument("--database-url", default=None, help="an empty database (default: a temporary SQLite)")
    parser.add_argument(
        "--database-delay-ms",
        type=float,
        default=0,
        help="with --database-url: answers from the database delayed this much (bench/delayproxy.py)",
    )
    parser.add_argument("--layer", default="core", choices=["core", "pubsub"], help="ours: REDIS_LAYER")
    parser.add_argument("--servers", default="bare,daphne,stock,ours", help="which to run, comma-separated")
    parser.add_argument("--workloads", default="broadcast,targeted,storm,two", help="which to run, comma-separated")
    args = parser.parse_args()
    if args.send:
        return sender_process(json.loads(args.send))
    sizes = (
        {"broadcast": [50], "rate": 10, "seconds": 2, "targeted": 50, "trate": 100, "storm": 100, "sender": 1}
        if args.quick
        else {
            "broadcast": [1000, 5000],
            "rate": 20,
            "seconds": 10,
            "targeted": 1000,
            "trate": 1000,
            "storm": 5000,
            "sender": 3,
        }
    )
    os.sched_setaffinity(0, {1})
    workdir = Path(tempfile.mkdtemp(prefix="fanout-"))
    os.environ.update(
        {"DJANGO_SETTINGS_MODULE": "project.settings", "DEBUG": "0", "REDIS_AUTODETECT": "0", "LOG_LEVEL": "ERROR"}
    )
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    if args.database_delay_ms:
        os.environ["DATABASE_URL"] = delayed_database_url(os.environ["DATABASE_URL"], args.database_delay_ms)
    os.environ.setdefault("SECRET_KEY", "bench-only")
    # Our limits are for people, not for a benchmark's 5,000 sockets from one address.
    os.environ["NOTIFICATIONS_JSON"] = json.dumps({"MAX_CONNECTIONS_PER_USER": None, "PUSH_TIMEOUT": 5})
    from notifications.testing import RedisServer
    from project.testing import redis_env

    redis = RedisServer.private()
    atexit.register(redis.close)  # also when a run fails half-way
    # The project's own channel-layer settings, for the senders here and the server alike.
    os.environ.update(redis_env(redis, layer=args.layer))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection

    from notifications import notify
    from notifications.testing import DaphneServer, free_port, port_open, wait_until
    from project.testing import project_env

    call_command("migrate", verbosity=0)
    if User.objects.exists():
        sys.exit(f"bench/fanout.py needs an empty database; {connection.settings_dict['NAME']} has users already.")
    most = max([*sizes["broadcast"], sizes["targeted"], sizes["storm"]])
    User.objects.bulk_create([User(username=f"bench{i}") for i in range(most)], batch_size=1000)
    users = list(User.objects.order_by("pk"))
    cookies = []
    for user in users:
        session = SessionStore()
        session.update(
            {
                "_auth_user_id": str(user.pk),
                "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
                "_auth_user_hash": user.get_session_auth_hash(),
            }
        )
        session.create()
        cookies.append({"Cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}"})
    env = project_env(redis, LOG_LEVEL="ERROR", REDIS_LAYER=args.layer)
    results: list[Result] = []

    def run_ours(n: int, workload: str, processes: int = 1) -> Result:
        # The broadcast audience: an auth group of exactly the users who connect (set up before they do).
        audience = Group.objects.get_or_create(name=f"bench-{n}")[0]
        audience.user_set.set(users[:n])
        # One process on core 0; two share the load, one per core (the clients alternate between them).
        servers = [DaphneServer.start(env=env) for _ in range(processes)]
        pids = [server.process.pid for server in servers]
        for core, pid in enumerate(pids):
            pin(pid, core)
        result = Result("ours", workload, connections=n)
        rss_idle = proc_rss(*pids)
        clients = Clients(
            [servers[i % processes].ws_url() for i in range(n)],
            [{**cookies[i], "Origin": servers[i % processes].origin} for i in range(n)],
            ours_extract,
        )
        loop = asyncio.new_event_loop()
        result.open_seconds = loop.run_until_complete(clients.open(n if workload == "storm" else 50))
        result.failed_opens = clients.failed
        result.kib_per_connection = (proc_rss(*pids) - rss_idle) / n / 1024
        if workload != "storm":
            start_id = notify(users[0], title="warm-up").pk
            total = (
                sizes["rate"] * sizes["seconds"]
                if workload.startswith("broadcast")
                else sizes["trate"] * sizes["seconds"]
            )
            spec = {
                "total": total,
                "rate": sizes["rate"] if workload.startswith("broadcast") else sizes["trate"],
                **(
                    {"group": audience.pk} if workload.startswith("broadcast") else {"users": [u.pk for u in users[:n]]}
                ),
            }
            sent = _send_from_process(loop, clients, spec, pids, result)
            result.expected = sent * n if workload.startswith("broadcast") else sent
            loop.run_until_complete(settle(clients, result.expected, idle=10))
            result.received = sum(len(s) for s in clients.seen)
            result.latencies = list(clients.latencies)
            result.after_sync_missing = loop.run_until_complete(_missing_after_sync(clients, start_id, result.expected))
        loop.run_until_complete(clients.close())
        loop.close()
        for each in servers:
            each.stop()
        return result

    def run_plain(kind: str, n: int, workload: str) -> Result:
        port = free_port()
        if kind == "daphne":
            endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog=4096"  # as ours is served
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "-e",
                    endpoint,
                    "--websocket_connect_timeout",
                    "30",
                    "bench.servers:floor",
                ],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        elif kind == "stock":
            proc = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bench.servers:stock"],
                cwd=ROOT,
                env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.servers", "REDIS_URL": redis.url},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        else:
            proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "servers.py"), str(port)], cwd=ROOT)
        wait_until(lambda: port_open(port), timeout=30, what=f"{kind} server")
        pin(proc.pid, 0)
        result = Result(kind, workload, connections=n)
        rss_idle = proc_rss(proc.pid)
        clients = Clients([f"ws://127.0.0.1:{port}/ws/{i}/" for i in range(n)], [{} for _ in range(n)], plain_extract)
        loop = asyncio.new_event_loop()
        result.open_seconds = loop.run_until_complete(clients.open(n if workload == "storm" else 50))
        result.failed_opens = clients.failed
        result.kib_per_connection = (proc_rss(proc.pid) - rss_idle) / n / 1024
        if workload != "storm":
            broadcast = workload.startswith("broadcast")
            rate = sizes["rate"] if broadcast else sizes["trate"]
            total = rate * sizes["seconds"]
            sender = loop.run_until_complete(_plain_sender(kind, port, redis.url))
            started, cpu0 = time.time(), proc_cpu(proc.pid)
            for i in range(total):
                payload = {"seq": i, "t": time.time(), "to": "all" if broadcast else i % n}
                loop.run_until_complete(sender(payload))
                loop.run_until_complete(asyncio.sleep(max(0.0, started + (i + 1) / rate - time.time())))
            result.expected = total * n if broadcast else total
            loop.run_until_complete(settle(clients, result.expected, 10))
            result.window = max(clients.last_arrival, time.time() - 0.001) - started
            result.cpu_seconds = proc_cpu(proc.pid) - cpu0
            result.received = sum(len(s) for s in clients.seen)
            result.latencies = list(clients.latencies)
        loop.run_until_complete(clients.close())
        loop.close()
        proc.terminate()
        proc.wait(10)
        return result

    servers = args.servers.split(",")
    plan = [(n, f"broadcast {n}") for n in sizes["broadcast"]] if "broadcast" in args.workloads else []
    plan += [(sizes["targeted"], "targeted")] if "targeted" in args.workloads else []
    plan += [(sizes["storm"], "storm")] if "storm" in args.workloads else []
    for n, workload in plan:
        for kind in ("bare", "daphne", "stock", "ours"):
            if kind in servers and (kind != "daphne" or workload == "storm"):
                results.append(run_ours(n, workload) if kind == "ours" else run_plain(kind, n, workload))
                print(results[-1].row(), flush=True)
    if "two" in args.workloads and "ours" in servers:
        # The first broadcast size again, over two Daphne processes sharing Redis (one per core).
        n = sizes["broadcast"][0]
        results.append(run_ours(n, f"broadcast {n}, 2 processes", processes=2))
        print(results[-1].row(), flush=True)

    calls, started = 0, time.monotonic()
    while time.monotonic() - started < sizes["sender"]:
        notify(users[calls % len(users)], title="cost")
        calls += 1
    sender_rate = calls / (time.monotonic() - started)
    redis.close()
    print()
    print(HEADER)
    for result in results:
        print(result.row())
    vendor = connection.vendor
    print(f"\nSender cost: {sender_rate:,.0f} notify() calls/s to single users from one sync process ({vendor}).")
    print(f"Channel layer for ours: {args.layer} (REDIS_LAYER).")
    return 0


def _send_from_process(
    loop: asyncio.AbstractEventLoop, clients: Clients, spec: dict, pids: list[int], result: Result
) -> int:
    """Run the sender process while the client loop keeps reading; return how many it sent."""
    started, cpu0 = time.time(), proc_cpu(*pids)
    sender = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--send", json.dumps(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )

    async def wait() -> None:
        while sender.poll() is None:
            await asyncio.sleep(0.05)

    loop.run_until_complete(wait())
    sent = int(sender.stdout.read().strip() or 0)  # type: ignore[union-attr]
    loop.run_until_complete(asyncio.sleep(0.5))
    result.window = max(clients.last_arrival, time.time() - 0.001) - started
    result.cpu_seconds = proc_cpu(*pids) - cpu0
    return sent


async def _missing_after_sync(clients: Clients, start_id: int, expected: int) -> int:
    """Each page syncs from before the run (as after a reconnect); count what is still missing."""
    cursor = json.dumps({"type": "sync", "cursor": f"1.{start_id}"})
    await asyncio.gather(*(ws.send(cursor) for ws in clients.connections))  # type: ignore[attr-defined]
    await settle(clients, expected, 15)
    return expected - sum(len(s) for s in clients.seen)


async def _plain_sender(kind: str, port: int, redis_url: str) -> object:
    if kind == "bare":
        from websockets.asyncio.client import connect

        ws = await connect(f"ws://127.0.0.1:{port}/send")

        async def send(payload: dict) -> None:
            await ws.send(json.dumps(payload))

        return send
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(hosts=[redis_url], prefix="stock-bench")

    async def send(payload: dict) -> None:
        group = "all" if payload["to"] == "all" else f"client-{payload['to']}"
        await layer.group_send(group, {"type": "bench.message", "payload": payload})

    return send


if __name__ == "__main__":
    sys.exit(main())
