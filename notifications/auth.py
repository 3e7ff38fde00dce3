"""Socket authentication: the Django session for browsers, a signed token for other clients."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddleware, get_user
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.contrib.auth.models import AnonymousUser

from notifications.db import concurrent_read
from notifications.security import header
from notifications.services.tokens import user_for_token


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
            user = await concurrent_read(user_for_token)(token)
            scope = {**scope, "user": user or AnonymousUser(), "auth_method": "token"}
        return await self.inner(scope, receive, send)


class SessionAuthMiddleware(AuthMiddleware):
    """Channels' session auth, its lookup of the session and the user run beside other sockets' (db.py)."""

    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        scope["user"]._wrapped = await concurrent_read(get_user.func)(scope)


def NotificationsAuthStack(inner: Any) -> Any:
    """Session and cookie auth (as Channels' AuthMiddlewareStack), with socket tokens taking precedence."""
    return CookieMiddleware(SessionMiddleware(SessionAuthMiddleware(TokenAuthMiddleware(inner))))
