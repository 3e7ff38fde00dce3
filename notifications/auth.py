"""Socket authentication: the Django session for browsers, a signed token for other clients."""

from __future__ import annotations

import logging
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddleware, get_user
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError

from notifications.db import concurrent_read
from notifications.security import header
from notifications.services.tokens import user_for_token

logger = logging.getLogger(__name__)

# Set in the scope when the database failed during authentication: the consumer closes with 4503.
DATABASE_DOWN = "notifications.database_down"


def _database_down(exc: DatabaseError) -> bool:
    """Log a handshake that found the database down; the value for the scope's DATABASE_DOWN."""
    logger.warning("Socket handshake while the database is unavailable (%s)", type(exc).__name__)
    return True


def token_from_scope(scope: dict[str, Any]) -> str | None:
    """``Authorization: Bearer <token>`` on the handshake, or ``?token=`` in the URL."""
    authorization = header(scope, b"authorization") or ""
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None


class TokenAuthMiddleware:
    """When a handshake carries a token, it alone decides the user (a bad token is anonymous: 4401)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        token = token_from_scope(scope) if scope["type"] == "websocket" else None
        if token is not None:
            try:
                user = await concurrent_read(user_for_token)(token)
            except DatabaseError as exc:
                user, scope = None, {**scope, DATABASE_DOWN: _database_down(exc)}
            scope = {**scope, "user": user or AnonymousUser(), "auth_method": "token"}
        return await self.inner(scope, receive, send)


class SessionAuthMiddleware(AuthMiddleware):
    """Channels' session auth, its lookup of the session and the user run beside other sockets' (db.py).

    With the database down the handshake is not an error page: the socket is
    accepted and closed with 4503 (retry) by the consumer (``DATABASE_DOWN``).
    """

    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        try:
            scope["user"]._wrapped = await concurrent_read(get_user.func)(scope)
        except DatabaseError as exc:
            scope["user"]._wrapped = AnonymousUser()
            scope["session"]._wrapped = import_module(settings.SESSION_ENGINE).SessionStore()  # empty, never loaded
            scope[DATABASE_DOWN] = _database_down(exc)


def NotificationsAuthStack(inner: Any) -> Any:
    """Session and cookie auth (as Channels' AuthMiddlewareStack), with socket tokens taking precedence."""
    return CookieMiddleware(SessionMiddleware(SessionAuthMiddleware(TokenAuthMiddleware(inner))))
