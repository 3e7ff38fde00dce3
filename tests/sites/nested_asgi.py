"""A site that routes the app's socket under its own prefix, behind Channels' origin validator."""

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application
from django.urls import path

from notifications.auth import NotificationsAuthStack
from notifications.routing import websocket_urlpatterns

application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": AllowedHostsOriginValidator(
            NotificationsAuthStack(URLRouter([path("realtime/", URLRouter(websocket_urlpatterns))]))
        ),
    }
)
