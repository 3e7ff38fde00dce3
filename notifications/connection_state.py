"""One open connection's state, whatever transport carries it: whose it is, what it follows, and when it must end.

``ConnectionState`` is mixed into ``LiveConsumer`` (live.py) and holds what any
transport needs besides writing frames: the per-user connection count, the
user's and session's personal groups and the groups the app asks for (joined
through the process's fan-out, fanout.py), the login re-check, control events
(logout, deactivation, revoked tokens, changed auth groups) and leaving it all
once. The host provides ``scope``, ``user``, ``channel_name``, ``_hub`` (the
loop's ``LocalFanout``), ``close(code=, reason=)``, ``groups`` and ``get_groups()``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from notifications import connections, group_names, realtime
from notifications.auth import token_from_scope
from notifications.conf import app_settings
from notifications.db import concurrent_read
from notifications.protocol import CloseCode
from notifications.services import logins

logger = logging.getLogger(__name__)

# Seconds a heartbeat waits for the database (its pong's fields, the login re-check) before
# answering without them: a ping proves the connection, whatever the database does.
PONG_DATABASE_WAIT = 1.0


class ConnectionState:
    """The transport-neutral half of a live connection (see the module docstring)."""

    def open_connection_state(self) -> None:
        self._counted = False  # in the per-user connection count
        self._login_checked_at = 0.0  # loop time the login was last found valid
        self.shared_groups: set[str] = set()  # get_groups() and join_group()
        self.personal_groups: list[str] = []  # the user's and the session's
        self._leaving: asyncio.Future[None] | None = None

    async def keep_alive(self) -> None:
        """On each heartbeat: refresh the process's group memberships and this connection's count entry."""
        try:
            self._hub.refresh_soon()
            await connections.touch(self.user.pk, self.channel_name)
        except Exception as exc:  # noqa: BLE001 - the layer loop reports and recovers outages
            logger.debug("Refresh failed on ping: %s", exc)

    async def join_group(self, group: str) -> None:
        """Receive the group's frames and events from now on (through the process's shared subscription)."""
        self.shared_groups.add(group)
        await self._hub.add(group, self)

    async def leave_group(self, group: str) -> None:
        self.shared_groups.discard(group)
        await self._hub.remove(group, self)

    def _login_check_due(self) -> bool:
        interval = app_settings.REVALIDATE_SECONDS
        elapsed = asyncio.get_running_loop().time() - self._login_checked_at
        return interval is not None and elapsed >= float(interval)

    async def _login_still_valid(self) -> bool:
        """Re-check the session (or token) that opened the socket; close 4401 when it ended.

        Catches what sends no signal: ``QuerySet.update(is_active=False)``, an expired or
        evicted session. A database error keeps the socket (checked again next time).
        """
        token = token_from_scope(self.scope) if self.scope.get("auth_method") == "token" else None
        session = self.scope.get("session")
        try:
            if token is not None:
                check = concurrent_read(logins.token_login_valid)(token, self.user.pk)
            elif session is not None and session.session_key:
                check = concurrent_read(logins.session_login_valid)(session.session_key, self.user.pk)
            else:
                return True  # authenticated by a middleware of the site's own: nothing to re-check here
            valid = await asyncio.wait_for(check, PONG_DATABASE_WAIT)
        except Exception as exc:  # noqa: BLE001 - the database down or slow, most likely
            logger.warning(
                "Could not re-check a socket's login (%s: %s); checking again later", type(exc).__name__, exc
            )
            return True
        if not valid:
            logger.info("Closing a socket whose login ended (user %s)", self.user.pk)
            await self.close(code=int(CloseCode.NOT_AUTHENTICATED), reason="signed out")
            return False
        self._login_checked_at = asyncio.get_running_loop().time()
        return True

    async def _count_connection_in(self) -> bool:
        """False when the user already has MAX_CONNECTIONS_PER_USER sockets open (anywhere)."""
        limit = app_settings.MAX_CONNECTIONS_PER_USER
        try:
            count = await connections.add(self.user.pk, self.channel_name)
        except Exception as exc:  # noqa: BLE001 - fail open: the limit protects, it must not lock people out
            logger.warning("Could not count connections (%s); allowing this one", exc)
            return True
        self._counted = True
        if limit is not None and count > limit:
            count = await connections.forget_dead_processes(self.user.pk)  # a server that was killed
        if limit is not None and count > limit:
            await connections.remove(self.user.pk, self.channel_name)
            self._counted = False
            return False
        return True

    async def _wanted_groups(self) -> list[str]:
        return [*self.groups, *await self.get_groups()]

    def _personal_groups(self) -> list[str]:
        """The user's group (targeted frames, control events) and the session's (logout)."""
        groups = [group_names.user(self.user.pk)]
        session = self.scope.get("session")
        if self.scope.get("auth_method") != "token" and session is not None and session.session_key:
            groups.append(group_names.session(session.session_key))
        return groups

    async def notifications_control(self, event: dict[str, Any]) -> None:
        """Account changes the socket must act on (see realtime.Control)."""
        action = event["action"]
        token_socket = self.scope.get("auth_method") == "token"
        if action in {realtime.Control.LOGGED_OUT, realtime.Control.DEACTIVATED} or (
            action == realtime.Control.TOKENS_REVOKED and token_socket
        ):
            await self.close(code=int(CloseCode.NOT_AUTHENTICATED), reason=action)
        elif action == realtime.Control.REVALIDATE:
            await self._login_still_valid()
        elif action == realtime.Control.GROUPS_CHANGED:
            wanted = set(await self._wanted_groups())
            for group in self.shared_groups - wanted:
                await self.leave_group(group)
            for group in wanted - self.shared_groups:
                await self.join_group(group)

    async def release(self) -> None:
        """Leave the connection count and every group, once; callers share the one attempt, which
        goes on if one of them is cancelled (a disconnect and a shutdown may both ask)."""
        if self._leaving is None:
            self._leaving = asyncio.ensure_future(self._leave())
        await asyncio.shield(self._leaving)

    async def _leave(self) -> None:
        if self._counted:
            await connections.remove(self.user.pk, self.channel_name)
        await asyncio.gather(
            *(self.leave_group(group) for group in list(self.shared_groups)),
            *(self._hub.remove(group, self) for group in self.personal_groups),
        )
