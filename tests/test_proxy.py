"""The repository's nginx config (deploy/nginx/notifications.conf) in front of a real Daphne."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifications import notify, realtime
from notifications.testing import (
    DaphneServer,
    free_port,
    open_event_stream,
    open_socket,
    port_open,
    receive_frame,
    wait_until,
)
from tests import REPO_DIR

pytestmark = pytest.mark.django_db(transaction=True)

SITE = REPO_DIR / "deploy" / "nginx" / "notifications.conf"
HEADER_TIMEOUT = 10  # client_header_timeout in the site file


class Nginx:
    """nginx with the site file, its upstream and port pointed at the test's Daphne."""

    def __init__(self, upstream_port: int) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise RuntimeError("No nginx for the proxy tests: apt-get install nginx-light (make test does it).")
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="nginx-"))
        site = SITE.read_text()
        site = re.sub(r"server 127\.0\.0\.1:\d+;", f"server 127.0.0.1:{upstream_port};", site)
        site = re.sub(r"listen 80;", f"listen 127.0.0.1:{self.port};", site)
        (self.directory / "site.conf").write_text(site)
        temp = {name: self.directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for path in temp.values():
            path.mkdir()
        (self.directory / "nginx.conf").write_text(
            f"""
            user root;
            worker_processes 1;
            pid {self.directory}/nginx.pid;
            error_log {self.directory}/error.log info;
            events {{ worker_connections 1024; }}
            http {{
                access_log off;
                client_body_temp_path {temp["body"]};
                proxy_temp_path {temp["proxy"]};
                fastcgi_temp_path {temp["fastcgi"]};
                uwsgi_temp_path {temp["uwsgi"]};
                scgi_temp_path {temp["scgi"]};
                include {self.directory}/site.conf;
            }}
            """
        )
        self.process = subprocess.Popen(
            [binary, "-p", str(self.directory), "-c", str(self.directory / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: port_open(self.port) or self.process.poll() is not None, timeout=10, what="nginx")
        if self.process.poll() is not None:
            raise RuntimeError(f"nginx did not start: {(self.directory / 'error.log').read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def server(self) -> DaphneServer:
        """The proxy seen as a server: open_socket() and origins go through nginx."""
        return DaphneServer(env={}, port=self.port)


@pytest.fixture(scope="module")
def nginx(daphne: DaphneServer) -> Iterator[Nginx]:
    proxy = Nginx(daphne.port)
    yield proxy
    proxy.stop()


def test_sockets_work_through_the_proxy(nginx: Nginx, alice) -> None:
    with open_socket(nginx.server, alice) as ws:
        assert receive_frame(ws, "hello")["user"]["username"] == "alice"
        sent = notify(alice, title="through nginx")
        assert receive_frame(ws, "notification")["notification"]["id"] == sent.pk


def test_the_event_stream_works_through_the_proxy(nginx: Nginx, alice) -> None:
    with open_event_stream(nginx.server, alice) as stream:
        assert stream.next_event("hello")["data"]["user"]["username"] == "alice"
        stream.next_event("sync")
        sent = notify(alice, title="streamed through nginx")
        assert realtime.flush(timeout=10)
        assert stream.next_event("notification", timeout=5)["id"] == f"1.{sent.pk}"


def test_a_client_trickling_its_headers_is_cut_off_while_others_connect(nginx: Nginx, alice) -> None:
    slow = socket.create_connection(("127.0.0.1", nginx.port), timeout=1)
    slow.sendall(b"GET /ws/notifications/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    started = time.monotonic()
    closed_after = None
    with open_socket(nginx.server, alice) as ws:  # a real client is not held up
        assert receive_frame(ws, "hello")["user"]["username"] == "alice"
    while time.monotonic() - started < HEADER_TIMEOUT * 3:
        try:
            slow.sendall(b"X")  # one byte of a header every half second: never idle
            if slow.recv(1024) == b"":
                closed_after = time.monotonic() - started
                break
        except TimeoutError:
            continue  # nothing came back within a second: still open, trickle on
        except OSError:
            closed_after = time.monotonic() - started
            break
    slow.close()
    assert closed_after is not None, "the trickling client was never cut off"
    assert closed_after < HEADER_TIMEOUT + 5
