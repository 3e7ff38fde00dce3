"""The app's settings: one ``NOTIFICATIONS`` dict, every key with a default.

Read lazily (``app_settings.PUSH_TIMEOUT``) and reset when the setting changes,
so ``override_settings(NOTIFICATIONS={...})`` works in tests.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # Prefix of every channel-layer group name this app uses.
    "GROUP_PREFIX": "notifications",
    # Namespace of this site's groups and keys on a Redis that other sites may share.
    # None: derived from SECRET_KEY (see notifications/namespace.py); "": no namespace.
    "REDIS_NAMESPACE": None,
    # Channel layer alias (see CHANNEL_LAYERS) used for pushes and consumers.
    "CHANNEL_LAYER": "default",
    # Seconds a queued live push may take before it is given up (the notification
    # is already stored; clients get it through sync). notify() does not wait.
    "PUSH_TIMEOUT": 1.0,
    # Origins (scheme://host[:port]) allowed to open the socket from a browser.
    # None: any origin whose host matches ALLOWED_HOSTS, except a "*" entry.
    "ALLOWED_ORIGINS": None,
    # URL schemes a notification's url may use; relative URLs are always allowed.
    "URL_SCHEMES": ("http", "https"),
    # Most notifications one sync answer carries ("more" asks for the next page).
    "SYNC_PAGE_SIZE": 100,
    # Bytes one sync answer aims to stay under (it always carries at least one).
    "SYNC_PAGE_BYTES": 256 * 1024,
    # Seconds before the cursor's notification that a sync looks back, for rows
    # whose transaction committed after a higher id did (longest send transaction).
    "SYNC_LOOKBACK_SECONDS": 60,
    # Bytes the server sends a socket without hearing a frame (e.g. a ping) from
    # it before closing it as too slow (1013). Bounds the memory a client that
    # stopped reading can hold on the server; the page reconnects and syncs (4013).
    "SLOW_CLIENT_BYTES": 4 * 1024 * 1024,
    # Largest client frame, in bytes: bigger ones close the socket with 4009.
    # Daphne itself refuses messages over its --websocket-max-message-size (1 MiB
    # by default) with 1009; that limit also bounds what the server may send, so
    # keep it above SYNC_PAGE_BYTES.
    "MAX_FRAME_BYTES": 4096,
    # Per-socket token bucket for client frames: RATE per second, BURST at once.
    # Over it a frame is refused with an "error" frame; CLOSE_AFTER refusals in a
    # row close the socket with 4429.
    "RATE_LIMIT": {"RATE": 10.0, "BURST": 30, "CLOSE_AFTER": 50},
    # Sockets one user may have open at once (tabs and devices, across all
    # server processes); one more is closed with 4409. None: no limit.
    "MAX_CONNECTIONS_PER_USER": 20,
    # Modules whose `websocket_urlpatterns` the project serves, in order. Add an
    # app's routing module here instead of editing asgi.py.
    "WEBSOCKET_ROUTES": ["notifications.routing"],
    # Where the page's client opens its socket (a path, or a ws:// or wss:// URL). None: the
    # path at which the site's ASGI_APPLICATION routes NotificationConsumer (notifications.routing).
    "WEBSOCKET_URL": None,
    # The template the app's pages (inbox, connection page, presence room) extend; it
    # must have {% block title %} and {% block content %}. None: a plain page of the app's own.
    "BASE_TEMPLATE": None,
    # Seconds between re-checks of an open socket's login (session or token), made
    # on its heartbeat: catches endings no signal reports (QuerySet.update(is_active=False),
    # an expired session). None: only the signals (logout, password change, ...).
    "REVALIDATE_SECONDS": 60,
    # Seconds the health check (views.healthz) waits for each part (the database, the channel layer's PUSH_TIMEOUT
    # aside) before it reports that part as failing (503).
    "HEALTH_TIMEOUT": 2.0,
    # Seconds a socket token (for non-browser clients) stays valid (for connecting).
    "TOKEN_TTL": 300,
    # Seconds between keep-alive comments on an idle event stream (notifications/sse.py):
    # below every proxy's read timeout; each also refreshes the connection's count and login check.
    "SSE_HEARTBEAT": 15,
    # Milliseconds an EventSource waits before reconnecting (the stream's "retry:" field).
    "SSE_RETRY_MS": 2000,
    # Seconds a long-poll request (notifications/sse.py, poll) waits for a live frame before
    # answering empty: below every proxy's read timeout.
    "LONG_POLL_SECONDS": 25,
    # Whether the tabs of one browser share one connection (the client's tabs.js): one tab
    # holds it and relays to the others. False: every tab opens its own.
    "SHARE_CONNECTION_ACROSS_TABS": True,
}


class AppSettings:
    """Attribute access to ``settings.NOTIFICATIONS`` merged over ``DEFAULTS``."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, "NOTIFICATIONS", None) or {}
        return value if isinstance(value, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown NOTIFICATIONS setting: {name!r}")
        if self._cache is None:
            self._cache = {**DEFAULTS, **self.user_settings}
        return self._cache[name]

    def reload(self) -> None:
        self._cache = None


app_settings = AppSettings()


@receiver(setting_changed)
def _reload_app_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "NOTIFICATIONS":
        app_settings.reload()
