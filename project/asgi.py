"""ASGI entry point: HTTP to Django, WebSockets to the apps' consumers (as any site wires it)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Set up Django (and its app registry) before importing consumers and models.
application = get_asgi_application()

from notifications.asgi import with_websockets  # noqa: E402

# Every app listed in NOTIFICATIONS["WEBSOCKET_ROUTES"]: adding one needs no edit here.
application = with_websockets(application)
