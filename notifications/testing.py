"""Test helpers for this app and for apps built on it: real Redis, real Daphne, real sockets.

Nothing here is imported by the app at run time. Typical use in a pytest
``conftest.py``::

    redis = RedisServer.start()     # REDIS_URL if set, else a private redis-server
    server = DaphneServer.start(settings=site_settings(redis))  # the site's ASGI app in Daphne
    with open_socket(server, user) as ws:
        hello = receive_frame(ws, "hello")
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect


def site_dir() -> Path:
    """The directory server processes of this site start in: where its settings package is importable."""
    from django.conf import settings

    module = sys.modules.get(settings.SETTINGS_MODULE or "")
    if module is None or not getattr(module, "__file__", None):
        return Path.cwd()
    return Path(module.__file__).resolve().parents[settings.SETTINGS_MODULE.count(".")]


def site_application() -> str:
    """The site's ASGI_APPLICATION as Daphne names it ("mysite.asgi:application")."""
    from django.conf import settings

    module, _, attribute = (getattr(settings, "ASGI_APPLICATION", None) or "").rpartition(".")
    if not module:
        raise RuntimeError("ASGI_APPLICATION is not set: notifications.testing cannot start the site's server.")
    return f"{module}:{attribute}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``condition`` until it is true; raise TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"Timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class RedisServer:
    """A Redis for tests: ``REDIS_URL`` if set, else a private ``redis-server`` we start and stop."""

    url: str
    process: subprocess.Popen[bytes] | None = None
    port: int | None = None
    directory: str | None = None
    prefix: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:12]}-")

    @classmethod
    def start(cls) -> RedisServer:
        url = os.environ.get("REDIS_URL")
        return cls(url=url) if url else cls.private()

    @classmethod
    def private(cls) -> RedisServer:
        """A redis-server of our own on a free port, which tests may stop and resume."""
        port = free_port()
        server = cls(url=f"redis://127.0.0.1:{port}/0", port=port, directory=tempfile.mkdtemp(prefix="redis-"))
        server.resume()
        return server

    def resume(self) -> None:
        """Start (or start again) the private server on its port."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "No Redis for the tests: set REDIS_URL to a running Redis, or install redis-server "
                "(Debian: apt-get install redis-server) so the tests can start a private one."
            )
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen([*args, "--dir", str(self.directory)], stdout=subprocess.DEVNULL)
        wait_until(lambda: port_open(self.port or 0), timeout=10, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def close(self) -> None:
        self.stop()
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def channel_layers(
        self, *, capacity: int = 100, layer: str = "core", process_capacity: int | None = None
    ) -> dict[str, Any]:
        """A CHANNEL_LAYERS setting pointing at this server with this run's own key prefix.

        ``layer`` is "core" (channels-redis's default) or "pubsub" (see REDIS_LAYER).
        ``process_capacity`` sizes the process channels ("specific.*") as the demo
        settings do (REDIS_PROCESS_CAPACITY); by default they get ``capacity`` too.
        """
        host = {"address": self.url, "socket_timeout": 15, "socket_connect_timeout": 2, "max_connections": 1000}
        if layer == "pubsub":
            backend, config = "channels_redis.pubsub.RedisPubSubChannelLayer", {"hosts": [host], "prefix": self.prefix}
        else:
            backend = "channels_redis.core.RedisChannelLayer"
            config = {"hosts": [host], "prefix": self.prefix, "capacity": capacity}
            if process_capacity is not None:
                config["channel_capacity"] = {"specific.*": process_capacity}
        return {"default": {"BACKEND": backend, "CONFIG": config}}


def database_url(settings_dict: Mapping[str, Any]) -> str:
    """A DATABASE_URL for another process to open the same (test) database."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    if engine.endswith("postgresql"):
        user = quote(settings_dict.get("USER") or "")
        password = f":{quote(settings_dict['PASSWORD'])}" if settings_dict.get("PASSWORD") else ""
        auth = f"{user}{password}@" if user else ""
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{settings_dict['NAME']}"
    raise RuntimeError(f"No DATABASE_URL form for {engine}")


@dataclass
class DaphneServer:
    """Daphne serving the site's ASGI_APPLICATION as a real process on a free port.

    ``settings`` (see ``site_settings()``) are set over the site's own settings
    module in that process, so any site's tests can point it at the test
    database and a test Redis, whatever its settings read from the environment.
    """

    env: dict[str, str]
    application: str = field(default_factory=site_application)
    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=site_dir)
    python: str = sys.executable
    # As recommended for production (README): a listen backlog and a handshake
    # timeout that survive every page reconnecting at once after a restart.
    options: tuple[str, ...] = ("--websocket_connect_timeout", "30")
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @classmethod
    def start(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
        application: str | None = None,
        **fields: Any,
    ) -> DaphneServer:
        environment = {**os.environ, **(env or {})}
        if settings is not None:
            environment.update(_settings_overlay(settings, environment))
        server = cls(env=environment, application=application or site_application(), **fields)
        server.resume()
        return server

    def resume(self) -> None:
        """Start (or start again) the process on the same port."""
        self.log = Path(tempfile.mkstemp(prefix="daphne-", suffix=".log")[1])
        endpoint = f"tcp:port={self.port}:interface=127.0.0.1:backlog=4096"
        args = [self.python, "-m", "daphne", "-e", endpoint, *self.options, self.application]
        env = {**self.env, "PYTHONFAULTHANDLER": "1"}  # stacks in the log if it must be aborted
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(args, cwd=self.directory, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._ready, timeout=30, what=f"Daphne on port {self.port}")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"Daphne did not start; its output:\n{self.output()}") from None

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"Daphne exited with {self.process.returncode}:\n{self.output()}")
        return port_open(self.port)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the process (SIGTERM: a graceful shutdown; ``kill``: SIGKILL).

        A process still running 15 s after SIGTERM is made to dump every thread's
        stack into its log (SIGABRT, with faulthandler on), killed, and reported:
        a hung shutdown is a bug to see, and an orphan would hold the test database.
        """
        if self.process is None:
            return
        process, self.process = self.process, None
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            raise RuntimeError(f"Daphne did not stop within 15 s of SIGTERM; its output:\n{self.output()}") from None

    def freeze(self) -> None:
        """Stall the process (SIGSTOP), as a long GC pause or an overloaded host would."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str = "/ws/notifications/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def manage(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a management command as a separate process of this site, on the same database and Redis."""
        return subprocess.run(
            [self.python, "-m", "django", *args],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def site_settings(redis: RedisServer | None = None, **overrides: Any) -> dict[str, Any]:
    """Settings for a server process of this site: this test process's database, SECRET_KEY and ``redis``."""
    from django.conf import settings
    from django.db import connection

    values: dict[str, Any] = {
        "DATABASES": {"default": {**connection.settings_dict, "NAME": str(connection.settings_dict["NAME"])}},
        "SECRET_KEY": settings.SECRET_KEY,
    }
    if redis is not None:
        values["CHANNEL_LAYERS"] = redis.channel_layers()
    return {**values, **overrides}


@functools.cache
def _overlay_directory() -> Path:
    """One temporary directory per test process for generated settings modules, removed when it exits."""
    directory = Path(tempfile.mkdtemp(prefix="notifications-settings-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


def _settings_overlay(values: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """Environment that runs the site's settings module with ``values`` set over it (a generated module)."""
    base = env.get("DJANGO_SETTINGS_MODULE") or os.environ["DJANGO_SETTINGS_MODULE"]
    directory = _overlay_directory()
    name = f"notifications_test_settings_{uuid.uuid4().hex[:8]}"
    (directory / f"{name}.py").write_text(
        "# Written by notifications.testing: the site's settings with the test's values over them.\n"
        f"import json, os\nfrom {base} import *  # noqa: F403\n"
        "globals().update(json.loads(os.environ['NOTIFICATIONS_TEST_SETTINGS']))\n"
    )
    path = os.pathsep.join(p for p in (str(directory), env.get("PYTHONPATH", "")) if p)
    return {
        "DJANGO_SETTINGS_MODULE": name,
        "PYTHONPATH": path,
        "NOTIFICATIONS_TEST_SETTINGS": json.dumps(dict(values), default=str),
    }


def session_cookie(user: Any) -> str:
    """A real session for ``user`` (stored in the database), as a Cookie header value."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@contextmanager
def open_socket(
    server: DaphneServer,
    user: Any = None,
    *,
    path: str = "/ws/notifications/",
    origin: str | None = "same",
    headers: Mapping[str, str] | None = None,
) -> Iterator[ClientConnection]:
    """A WebSocket to the server, signed in as ``user`` (anonymous when None)."""
    extra = dict(headers or {})
    if user is not None:
        extra["Cookie"] = session_cookie(user)
    with connect(
        server.ws_url(path),
        additional_headers=extra,
        origin=server.origin if origin == "same" else origin,  # type: ignore[arg-type]
        open_timeout=10,
        close_timeout=2,
        # No library keepalive thread: tests send the protocol's own ping when they want one
        # (websockets' pings draw on the global random module, which property tests watch).
        ping_interval=None,
    ) as ws:
        yield ws


# Frames read while waiting for a frame of another type, per socket, oldest first:
# the next call for their type (or for any frame) gets them, so none is lost.
_set_aside: weakref.WeakKeyDictionary[ClientConnection, deque[dict[str, Any]]] = weakref.WeakKeyDictionary()


def receive_frame(ws: ClientConnection, frame_type: str | None = None, *, timeout: float = 10) -> dict[str, Any]:
    """The next JSON frame (the next of ``frame_type`` if given) within ``timeout`` seconds.

    Frames of other types that arrive first are set aside, not dropped: a later
    call returns them in the order they came.
    """
    waiting = _set_aside.setdefault(ws, deque())
    for frame in waiting:
        if frame_type is None or frame.get("type") == frame_type:
            waiting.remove(frame)
            return frame
    deadline = time.monotonic() + timeout
    while True:
        try:
            frame = json.loads(ws.recv(timeout=max(0.0, deadline - time.monotonic())))
        except TimeoutError:
            seen = ", ".join(str(f.get("type")) for f in waiting) or "none"
            raise TimeoutError(f"No {frame_type or 'frame'} within {timeout} s (set aside meanwhile: {seen})") from None
        if frame_type is None or frame.get("type") == frame_type:
            return frame
        waiting.append(frame)


def closed_with(ws: ClientConnection, *, timeout: float = 10) -> int:
    """Read until the server closes the socket; its close code (1006 when no close frame came)."""
    try:
        while True:
            ws.recv(timeout=timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006


def refused_with(ws: ClientConnection, *, timeout: float = 10) -> int | None:
    """None when the server greets the socket (``hello``), else the code it closed it with."""
    try:
        receive_frame(ws, "hello", timeout=timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006
    return None


def frames_set_aside(ws: ClientConnection) -> list[dict[str, Any]]:
    """Frames ``receive_frame`` read while waiting for another type and has not returned yet."""
    return list(_set_aside.get(ws, ()))


@dataclass
class EventStreamReader:
    """An open ``text/event-stream`` response, read one event at a time (see ``open_event_stream``)."""

    response: Any
    set_aside: deque[dict[str, Any]] = field(default_factory=deque)

    def next_event(self, frame_type: str | None = None, *, timeout: float = 10) -> dict[str, Any]:
        """The next event (``{"event", "id", "data"}``, data parsed as JSON), of a frame type if given.

        Comments (keep-alives) are skipped; events of other frame types are set
        aside for a later call, as ``receive_frame`` does.
        """
        for event in self.set_aside:
            if frame_type is None or event["data"].get("type") == frame_type:
                self.set_aside.remove(event)
                return event
        deadline = time.monotonic() + timeout
        while True:
            event = self._read_event(deadline, frame_type)
            if frame_type is None or event["data"].get("type") == frame_type:
                return event
            self.set_aside.append(event)

    def _read_event(self, deadline: float, wanted: str | None) -> dict[str, Any]:
        fields: dict[str, Any] = {"event": "message", "id": None, "data": []}
        while True:
            self.response.fp.raw._sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                line = self.response.readline().decode().rstrip("\r\n")
            except TimeoutError:
                raise TimeoutError(f"No {wanted or 'event'} on the stream before the deadline") from None
            if not line and self.response.isclosed():
                raise ConnectionError("The server ended the stream")
            if line.startswith(":"):
                continue
            if not line:
                if fields["data"]:
                    return {**fields, "data": json.loads("\n".join(fields["data"]))}
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                fields["data"].append(value)
            elif name in {"event", "id"}:
                fields[name] = value


@contextmanager
def open_event_stream(
    server: DaphneServer,
    user: Any = None,
    *,
    path: str = "/notifications/stream/",
    headers: Mapping[str, str] | None = None,
) -> Iterator[EventStreamReader]:
    """The notifications event stream, signed in as ``user``; raises HTTPError for a refusal."""
    import urllib.request

    extra = {"Accept": "text/event-stream", **(headers or {})}
    if user is not None:
        extra["Cookie"] = session_cookie(user)
    request = urllib.request.Request(f"{server.origin}{path}", headers=extra)
    response = urllib.request.urlopen(request, timeout=10)
    try:
        yield EventStreamReader(response)
    finally:
        response.close()
