"""WebSocket routes: this app's own, the composition of every app's, and where the site serves ours.

Each app exports ``websocket_urlpatterns`` from a module listed in
``NOTIFICATIONS["WEBSOCKET_ROUTES"]``; ``notifications.asgi`` serves
``websocket_routes()``, so adding an app never means editing asgi.py.

Channels has no ``reverse()`` for socket routes, so ``socket_path()`` finds our
consumer in the site's own ``ASGI_APPLICATION`` (through its middleware and
nested routers): the page's client connects wherever the site put it.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from django.conf import settings
from django.urls import path
from django.utils.module_loading import import_string

from notifications.conf import app_settings
from notifications.consumers import NotificationConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationConsumer.as_asgi(), name="notifications-ws"),
]

# A regex route is read as a path only when it is a plain string between ^ and $.
_PLAIN_REGEX = re.compile(r"\^?([\w/.-]*)\$?")


def websocket_routes() -> list[Any]:
    """Every listed module's ``websocket_urlpatterns``, in order."""
    patterns: list[Any] = []
    for module in app_settings.WEBSOCKET_ROUTES:
        patterns += import_string(f"{module}.websocket_urlpatterns")
    return patterns


def socket_url() -> str:
    """What the page's client connects to: NOTIFICATIONS["WEBSOCKET_URL"], else the discovered path."""
    discovered = socket_path(getattr(settings, "ASGI_APPLICATION", None))
    return app_settings.WEBSOCKET_URL or discovered or "/ws/notifications/"


@functools.lru_cache(maxsize=8)
def socket_path(asgi_application: str | None) -> str | None:
    """The path at which ``asgi_application`` (a dotted path) serves NotificationConsumer, or None."""
    if not asgi_application:
        return None
    return _find(import_string(asgi_application), "/", set())


def _find(node: Any, prefix: str, seen: set[int]) -> str | None:
    if node is None or id(node) in seen:
        return None
    seen.add(id(node))
    consumer = getattr(node, "consumer_class", None)
    if isinstance(consumer, type) and issubclass(consumer, NotificationConsumer):
        return prefix
    mapping = getattr(node, "application_mapping", None)  # ProtocolTypeRouter
    if isinstance(mapping, dict):
        return _find(mapping.get("websocket"), prefix, seen)
    routes = getattr(node, "routes", None)  # URLRouter
    if isinstance(routes, list):
        for route in routes:
            text = _route_text(route.pattern)
            found = None if text is None else _find(route.callback, prefix + text, seen)
            if found is not None:
                return found
        return None
    for attribute in ("inner", "application", "app"):  # middleware (Channels' and most others)
        found = _find(getattr(node, attribute, None), prefix, seen)
        if found is not None:
            return found
    return None


def _route_text(pattern: Any) -> str | None:
    """A route's literal path, or None for one with converters or a real regex."""
    text = str(pattern)
    if getattr(pattern, "converters", None) or "<" in text:
        return None
    if pattern.__class__.__name__ == "RegexPattern":
        match = _PLAIN_REGEX.fullmatch(text)
        return match.group(1) if match else None
    return text
