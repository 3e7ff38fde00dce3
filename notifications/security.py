"""Handshake checks shared by every consumer: is this browser origin allowed?"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from notifications.conf import app_settings


def header(scope: dict[str, Any], name: bytes) -> str | None:
    """A request header from an ASGI scope, decoded, or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Refuse cross-site WebSocket hijacking: a page of another origin opening our socket.

    The rule is Django's own CSRF origin check: the ``Origin`` must equal the
    request's scheme and host (port included; the host must pass
    ``ALLOWED_HOSTS``) or a ``CSRF_TRUSTED_ORIGINS`` entry. Cookies are not
    bound to a port or scheme, so another app on the same host must not ride
    them. With ``NOTIFICATIONS['ALLOWED_ORIGINS']`` set, exactly those origins
    pass instead.

    Browsers always send ``Origin``. A handshake without one is allowed only
    when it carries no session cookie (a script with a token); with the cookie it
    is not a browser page, and cookies are for browsers: refused.
    """
    origin = header(scope, b"origin")
    if origin is None:
        return not _has_session_cookie(scope)
    origin = origin.rstrip("/").lower()
    explicit = app_settings.ALLOWED_ORIGINS
    if explicit is not None:
        return origin in {o.rstrip("/").lower() for o in explicit}
    return origin == _request_origin(scope) or _trusted(origin)


def _has_session_cookie(scope: dict[str, Any]) -> bool:
    cookies = header(scope, b"cookie") or ""
    name = settings.SESSION_COOKIE_NAME
    return any(part.strip().split("=", 1)[0] == name for part in cookies.split(";"))


def _request_origin(scope: dict[str, Any]) -> str | None:
    """``scheme://host[:port]`` of the handshake as Django would see it, or None if the host is not allowed."""
    host = header(scope, b"host") or ""
    if settings.USE_X_FORWARDED_HOST:
        host = (header(scope, b"x-forwarded-host") or "").split(",")[0].strip() or host
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    if not domain or not validate_host(domain, allowed):
        return None
    return f"{'https' if _is_secure(scope) else 'http'}://{host.lower()}"


def _is_secure(scope: dict[str, Any]) -> bool:
    """As ``HttpRequest.is_secure()``: ``SECURE_PROXY_SSL_HEADER`` when set, else the connection's scheme."""
    proxy_header = settings.SECURE_PROXY_SSL_HEADER
    if proxy_header:
        name, secure_value = proxy_header
        name = name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        value = header(scope, name)
        if value is not None:
            return value.split(",")[0].strip() == secure_value
    return scope.get("scheme") in ("wss", "https")


def _trusted(origin: str) -> bool:
    """Listed in ``CSRF_TRUSTED_ORIGINS`` (exactly, or by a ``https://*.example.com`` entry)."""
    parts = urlsplit(origin)
    for entry in getattr(settings, "CSRF_TRUSTED_ORIGINS", ()):
        entry = entry.rstrip("/").lower()
        if "*" not in entry:
            if origin == entry:
                return True
            continue
        trusted = urlsplit(entry)
        if parts.scheme == trusted.scheme and is_same_domain(parts.netloc, trusted.netloc.lstrip("*")):
            return True
    return False
