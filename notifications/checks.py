"""System checks: the NOTIFICATIONS setting, the channel layer, and the wiring a site adds."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from notifications import routing
from notifications.conf import DEFAULTS, app_settings


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Unknown keys and wrong types in NOTIFICATIONS are errors, not silent no-ops."""
    raw = getattr(settings, "NOTIFICATIONS", {})
    if not isinstance(raw, dict):
        return [Error("NOTIFICATIONS must be a dict.", id="notifications.E001")]
    errors = [
        Error(
            f"Unknown NOTIFICATIONS key {key!r}.",
            hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
            id="notifications.E002",
        )
        for key in raw
        if key not in DEFAULTS
    ]
    for key in ("PUSH_TIMEOUT", "HEALTH_TIMEOUT"):
        timeout = raw.get(key, DEFAULTS[key])
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            message = f"NOTIFICATIONS[{key!r}] must be a positive number of seconds."
            errors.append(Error(message, id="notifications.E003"))
    for key in (
        "SYNC_PAGE_SIZE",
        "SYNC_PAGE_BYTES",
        "SYNC_LOOKBACK_SECONDS",
        "SLOW_CLIENT_BYTES",
        "MAX_FRAME_BYTES",
        "TOKEN_TTL",
        "SSE_HEARTBEAT",
        "SSE_RETRY_MS",
        "LONG_POLL_SECONDS",
    ):
        value = raw.get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(Error(f"NOTIFICATIONS[{key!r}] must be a positive integer.", id="notifications.E006"))
    revalidate = raw.get("REVALIDATE_SECONDS", DEFAULTS["REVALIDATE_SECONDS"])
    if revalidate is not None and (
        isinstance(revalidate, bool) or not isinstance(revalidate, (int, float)) or revalidate <= 0
    ):
        errors.append(
            Error("NOTIFICATIONS['REVALIDATE_SECONDS'] must be None or a positive number.", id="notifications.E011")
        )
    limit = raw.get("MAX_CONNECTIONS_PER_USER", DEFAULTS["MAX_CONNECTIONS_PER_USER"])
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        errors.append(Error("NOTIFICATIONS['MAX_CONNECTIONS_PER_USER'] must be None or >= 1.", id="notifications.E008"))
    rate = raw.get("RATE_LIMIT", DEFAULTS["RATE_LIMIT"])
    if (
        not isinstance(rate, dict)
        or set(rate) != {"RATE", "BURST", "CLOSE_AFTER"}
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in rate.values())
    ):
        errors.append(
            Error(
                "NOTIFICATIONS['RATE_LIMIT'] must be {'RATE': >0, 'BURST': >0, 'CLOSE_AFTER': >0}.",
                id="notifications.E007",
            )
        )
    namespace = raw.get("REDIS_NAMESPACE")
    if namespace is not None and (
        not isinstance(namespace, str) or not re.fullmatch(r"[A-Za-z0-9_-]{0,40}", namespace)
    ):
        errors.append(
            Error(
                "NOTIFICATIONS['REDIS_NAMESPACE'] must be None or up to 40 letters, digits, '-' or '_'.",
                id="notifications.E012",
            )
        )
    for key in ("WEBSOCKET_URL", "BASE_TEMPLATE"):
        if raw.get(key) is not None and not isinstance(raw.get(key), str):
            errors.append(Error(f"NOTIFICATIONS[{key!r}] must be None or a string.", id="notifications.E018"))
    if not isinstance(raw.get("SHARE_CONNECTION_ACROSS_TABS", True), bool):
        errors.append(
            Error("NOTIFICATIONS['SHARE_CONNECTION_ACROSS_TABS'] must be True or False.", id="notifications.E020")
        )
    errors += _route_errors(raw.get("WEBSOCKET_ROUTES", DEFAULTS["WEBSOCKET_ROUTES"]))
    origins = raw.get("ALLOWED_ORIGINS")
    if origins is not None and (isinstance(origins, str) or not all(isinstance(o, str) for o in origins)):
        errors.append(
            Error("NOTIFICATIONS['ALLOWED_ORIGINS'] must be None or a list of origins.", id="notifications.E004")
        )
    return errors


@register()
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list[Warning | Error]:
    """Warn when live delivery only works inside one process."""
    layers = getattr(settings, "CHANNEL_LAYERS", {})
    alias = app_settings.CHANNEL_LAYER
    if alias not in layers:
        return [Error(f"CHANNEL_LAYERS has no {alias!r} layer; live delivery cannot work.", id="notifications.E005")]
    if layers[alias].get("BACKEND", "").endswith("InMemoryChannelLayer"):
        if not settings.DEBUG:
            return [
                Warning(
                    "The in-memory channel layer, with DEBUG off: notifications sent by any process "
                    "other than the one holding the socket (a second server process, a worker, cron, "
                    "manage.py) are not delivered live.",
                    hint="Use channels-redis: CHANNEL_LAYERS = {'default': {'BACKEND': "
                    "'channels_redis.core.RedisChannelLayer', 'CONFIG': {'hosts': ['redis://...']}}}.",
                    id="notifications.W002",
                )
            ]
        return [
            Warning(
                "The in-memory channel layer delivers only inside one process: notifications "
                "sent from another process (manage.py notify, a worker) reach browsers only "
                "when they reconnect.",
                hint="Start Redis and set REDIS_URL (e.g. redis://127.0.0.1:6379/0).",
                id="notifications.W001",
            )
        ]
    if layers[alias].get("BACKEND", "").startswith("channels_redis."):
        return _redis_layer_errors()
    return []


def _redis_layer_errors() -> list[Error]:
    """A channels-redis release without the names the fan-out and shared state use is refused at start."""
    from importlib.metadata import version

    from notifications import redis_layer

    missing = redis_layer.incompatibilities()
    if not missing:
        return []
    return [
        Error(
            f"channels-redis {version('channels-redis')} lacks what live delivery relies on: {', '.join(missing)}.",
            hint=f"Install the tested range: pip install 'channels-redis{redis_layer.TESTED_RANGE}'.",
            id="notifications.E019",
        )
    ]


def _route_errors(routes: Any) -> list[Error]:
    """Each WEBSOCKET_ROUTES entry must import and export a list ``websocket_urlpatterns``."""
    if isinstance(routes, str) or not isinstance(routes, (list, tuple)):
        return [Error("NOTIFICATIONS['WEBSOCKET_ROUTES'] must be a list of module paths.", id="notifications.E009")]
    errors = []
    for module in routes:
        try:
            patterns = import_string(f"{module}.websocket_urlpatterns")
        except ImportError as exc:
            errors.append(
                Error(
                    f"NOTIFICATIONS['WEBSOCKET_ROUTES'] lists {module!r}, which has no websocket_urlpatterns ({exc}).",
                    hint="Give the app a routing.py with `websocket_urlpatterns = [path(...)]`, or fix the path.",
                    id="notifications.E010",
                )
            )
            continue
        if not isinstance(patterns, (list, tuple)):
            errors.append(Error(f"{module}.websocket_urlpatterns must be a list.", id="notifications.E010"))
    return errors


@register()
def check_wiring(app_configs: Any = None, **kwargs: Any) -> list[Warning | Error]:
    """Each piece a site adds when it installs the app (README, "Add it to your site"), named when missing."""
    errors: list[Warning | Error] = []
    errors += _asgi_errors()
    errors += _template_errors()
    try:
        reverse("notifications:inbox")
    except NoReverseMatch:
        errors.append(
            Error(
                "The notifications URLs are not included: the bell's links and the inbox have no address.",
                hint='In the root urls.py: path("notifications/", include("notifications.urls")).',
                id="notifications.E017",
            )
        )
    if settings.DEBUG and "daphne" not in settings.INSTALLED_APPS:
        errors.append(
            Warning(
                "runserver is Django's own (WSGI): it serves no WebSockets, so pages never go live.",
                hint='Put "daphne" first in INSTALLED_APPS: its runserver serves ASGI_APPLICATION.',
                id="notifications.W003",
            )
        )
    return errors


def _asgi_errors() -> list[Error]:
    application = getattr(settings, "ASGI_APPLICATION", None)
    wiring = "from notifications.asgi import with_websockets; application = with_websockets(application)"
    if not application:
        return [
            Error(
                "ASGI_APPLICATION is not set: no server knows where the WebSocket route is.",
                hint=f'Set ASGI_APPLICATION = "mysite.asgi.application" and, in that asgi.py: {wiring}.',
                id="notifications.E013",
            )
        ]
    if app_settings.WEBSOCKET_URL:
        return []  # the site says where the socket is (a proxy, another host, a regex route)
    try:
        found = routing.socket_path(application)
    except Exception as exc:  # noqa: BLE001 - any import failure is the site's to see, named
        return [Error(f"ASGI_APPLICATION {application!r} could not be imported: {exc!r}.", id="notifications.E014")]
    if found is None:
        return [
            Error(
                f"{application} does not route WebSockets to NotificationConsumer: sockets would get HTTP 500.",
                hint=f"In asgi.py, after get_asgi_application(): {wiring}. If your route has converters or a "
                'regex, or a proxy moves it, set NOTIFICATIONS["WEBSOCKET_URL"] to the path pages connect to.',
                id="notifications.E015",
            )
        ]
    return []


def _template_errors() -> list[Error]:
    name = app_settings.BASE_TEMPLATE
    if not isinstance(name, str) or not name:
        return []
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return [
            Error(
                f"NOTIFICATIONS['BASE_TEMPLATE'] is {name!r}, which no template loader finds.",
                hint="Name your site's base template (with {% block title %} and {% block content %}), "
                "or leave it unset for the app's own plain page.",
                id="notifications.E016",
            )
        ]
    return []
