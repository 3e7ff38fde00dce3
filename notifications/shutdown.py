"""A graceful shutdown under Daphne: 1001 to every socket, and this process's Redis state cleaned up.

On SIGTERM Daphne cancels every application and lets Twisted drop the sockets:
pages see 1006 (no close frame), and the process's group memberships and
per-user socket counts stay in Redis until they expire, so a person with many
tabs reconnecting to the restarted server was refused (4409). Here a Twisted
"before shutdown" trigger sends each open WebSocket a 1001 ("going away")
close frame, then has every local consumer leave its groups and its count
(``LiveConsumer.release``), and Twisted waits for that before exiting.

Daphne (through autobahn) lets an application close only with 1000 or
3000-4999, so the frame is written by the protocol directly. This module is
the one place that relies on Daphne's, Twisted's and autobahn's internals
(``Server.connections`` and ``listeners``, the reactor's shutdown triggers,
``sendCloseFrame``);
``tests/test_shutdown.py`` fails loudly if a release changes them. Under other
servers (uvicorn closes sockets with 1012 itself) ``install()`` does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from twisted.internet.defer import Deferred

logger = logging.getLogger(__name__)

GOING_AWAY = 1001
# Seconds each cleanup step (a consumer leaving its groups, the process's keys) may take.
CLEANUP_SECONDS = 2.0
_state = {"installed": False, "shutting_down": False}


def install() -> None:
    """Hook this process's shutdown, once, when running under Daphne (called as sockets connect)."""
    if _state["installed"]:
        return
    _state["installed"] = True
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or not getattr(reactor, "running", False):
        return
    servers = _daphne_servers(reactor)  # found now: a trigger leaves the list once it fires
    if servers:
        reactor.addSystemEventTrigger("before", "shutdown", _before_shutdown, servers)


def shutting_down() -> bool:
    """True once the server began a graceful shutdown."""
    return _state["shutting_down"]


def _before_shutdown(servers: list[Any]) -> Deferred[None]:
    _state["shutting_down"] = True
    for server in servers:
        # Refuse new connections now: accepted during the cleanup below, they would be
        # dropped mid-handshake when the process exits; refused, clients retry elsewhere.
        for listener in server.listeners:
            port = getattr(listener, "result", None)
            if hasattr(port, "stopListening"):
                port.stopListening()
    closed = 0
    for server in servers:
        for protocol in list(server.connections):
            if _is_open_websocket(protocol):
                try:
                    protocol.sendCloseFrame(code=GOING_AWAY, reasonUtf8=b"server shutting down")
                    closed += 1
                except Exception:  # one socket must not stop the others
                    logger.exception("Could not send 1001 to a socket")
    logger.info("Shutting down: sent 1001 (going away) to %d socket(s)", closed)
    # Twisted waits for this before it stops the process.
    return Deferred.fromFuture(asyncio.ensure_future(_release_everything()))


async def _release_everything() -> None:
    """Every local socket leaves its groups and the count; this process stops counting as alive."""
    from notifications import connections, fanout

    subscribers = fanout.local_subscribers()
    try:
        await asyncio.wait_for(
            asyncio.gather(*(each.release() for each in subscribers), connections.forget_this_process()),
            CLEANUP_SECONDS,
        )
    except Exception as exc:  # noqa: BLE001 - Redis down: the keys expire on their own
        logger.info("Could not clean up this process's state in Redis (%s)", type(exc).__name__)


def _daphne_servers(reactor: Any) -> list[Any]:
    """Daphne's Server objects, found by the shutdown trigger each registers (``kill_all_applications``)."""
    from daphne.server import Server

    triggers = reactor._eventTriggers.get("shutdown")
    if triggers is None:
        return []
    owners = (getattr(trigger[0], "__self__", None) for trigger in triggers.before)
    return [owner for owner in owners if isinstance(owner, Server)]


def _is_open_websocket(protocol: Any) -> bool:
    from daphne.ws_protocol import WebSocketProtocol

    return isinstance(protocol, WebSocketProtocol) and protocol.state == WebSocketProtocol.STATE_OPEN
