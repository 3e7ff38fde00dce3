"""The ASGI wiring a site adds to its ``asgi.py``: WebSockets to the apps' consumers.

In the ``asgi.py`` that ``startproject`` wrote, after ``application = get_asgi_application()``::

    from notifications.asgi import with_websockets  # noqa: E402
    application = with_websockets(application)

A site that already routes WebSockets puts ``websocket_application()`` (or
``notifications.routing.websocket_urlpatterns`` inside its own auth stack)
into its own ``ProtocolTypeRouter`` instead.
"""

from __future__ import annotations

from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter

from notifications.auth import NotificationsAuthStack
from notifications.routing import websocket_routes


def websocket_application() -> Any:
    """Every app's routes listed in NOTIFICATIONS["WEBSOCKET_ROUTES"], behind session and token auth."""
    return NotificationsAuthStack(URLRouter(websocket_routes()))


def with_websockets(http_application: Any) -> ProtocolTypeRouter:
    """HTTP to ``http_application`` (Django's), WebSockets to ``websocket_application()``."""
    return ProtocolTypeRouter({"http": http_application, "websocket": websocket_application()})
