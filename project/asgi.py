"""ASGI entry point: HTTP to Django, WebSockets to the apps' consumers."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Set up Django (and its app registry) before importing consumers and models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from notifications.auth import NotificationsAuthStack  # noqa: E402
from notifications.routing import websocket_routes  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Every app listed in NOTIFICATIONS["WEBSOCKET_ROUTES"]: adding one needs no edit here.
        "websocket": NotificationsAuthStack(URLRouter(websocket_routes())),
    }
)
