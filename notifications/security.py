"""Handshake checks shared by every consumer: is this browser origin allowed?"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from notifications.conf import app_settings


def header(scope: dict[str, Any], name: bytes) -> str | None:
    """A request header from an ASGI scope, decoded, or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Refuse cross-site WebSocket hijacking: a browser page on another site opening our socket.

    Browsers always send ``Origin``; a handshake without one comes from a
    non-browser client, which cannot ride a victim's cookies, so it is allowed.
    With ``NOTIFICATIONS['ALLOWED_ORIGINS']`` set, only those origins pass.
    Otherwise the origin's host must match ``ALLOWED_HOSTS``, where a ``"*"``
    entry does *not* allow every origin: it only allows a same-origin request
    (the origin equals the Host header).
    """
    origin = header(scope, b"origin")
    if origin is None:
        return True
    explicit = app_settings.ALLOWED_ORIGINS
    if explicit is not None:
        return origin.rstrip("/").lower() in {o.rstrip("/").lower() for o in explicit}
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    host, _port = split_domain_port(parts.netloc)
    patterns = [h for h in settings.ALLOWED_HOSTS if h != "*"]
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        patterns = [".localhost", "127.0.0.1", "[::1]"]
    if host and validate_host(host, patterns):
        return True
    return "*" in settings.ALLOWED_HOSTS and parts.netloc.lower() == (header(scope, b"host") or "").lower()
