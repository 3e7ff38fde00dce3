"""WebSocket routes: this app's own, and the composition of every app's.

Each app exports ``websocket_urlpatterns`` from a module listed in
``NOTIFICATIONS["WEBSOCKET_ROUTES"]``; ``project/asgi.py`` serves
``websocket_routes()``, so adding an app never means editing asgi.py.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from django.utils.module_loading import import_string

from notifications.conf import app_settings
from notifications.consumers import NotificationConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationConsumer.as_asgi(), name="notifications-ws"),
]


def websocket_routes() -> list[Any]:
    """Every listed module's ``websocket_urlpatterns``, in order."""
    patterns: list[Any] = []
    for module in app_settings.WEBSOCKET_ROUTES:
        patterns += import_string(f"{module}.websocket_urlpatterns")
    return patterns
