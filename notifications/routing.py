"""WebSocket routes of the notifications app."""

from __future__ import annotations

from django.urls import path

from notifications.consumers import NotificationConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationConsumer.as_asgi(), name="notifications-ws"),
]
