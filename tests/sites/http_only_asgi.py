"""An asgi.py as startproject writes it: HTTP only, no WebSocket routes."""

from django.core.asgi import get_asgi_application

application = get_asgi_application()
