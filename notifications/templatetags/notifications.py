"""Template tags that put the live bell on any page: ``{% load notifications %}``.

``{% notifications_bell %}`` renders the bell with the unread count (correct
without JavaScript); ``{% notifications_scripts %}`` loads the client module.
Both render overridable templates under ``notifications/``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.middleware.csrf import get_token
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from notifications import services
from notifications.conf import app_settings
from notifications.routing import socket_url

register = template.Library()


@register.inclusion_tag("notifications/bell.html", takes_context=True)
def notifications_bell(context: template.Context) -> dict[str, Any]:
    user = context.get("user")
    signed_in = bool(user is not None and user.is_authenticated)
    request = context.get("request")
    login_url = resolve_url(settings.LOGIN_URL)
    if request is not None:
        login_url = f"{login_url}?{urlencode({'next': request.get_full_path()})}"
    return {
        "signed_in": signed_in,
        "unread_count": _inbox_state(context).unread_count if signed_in else 0,
        "login_url": login_url,
    }


@register.inclusion_tag("notifications/scripts.html", takes_context=True)
def notifications_scripts(context: template.Context) -> dict[str, Any]:
    user = context.get("user")
    signed_in = bool(user is not None and user.is_authenticated)
    config: dict[str, Any] = {"path": socket_url()}
    if signed_in:
        # What the page was rendered with: a notification above it arrived after, and is shown as new.
        config["newestId"] = _inbox_state(context).latest_id or 0
        # Where WebSockets are blocked, the client falls back to the event stream and the JSON API.
        config["streamPath"] = reverse("notifications:stream")
        config["pollPath"] = reverse("notifications:poll")
        config["apiPath"] = reverse("notifications:api-list")
        request = context.get("request")
        if request is not None:
            config["csrfToken"] = get_token(request)
        config["strings"] = client_strings()
        if app_settings.SHARE_CONNECTION_ACROSS_TABS:
            # The tabs of one browser share one connection (tabs.js); a key per user keeps a tab
            # signed in as someone else out of the group, without putting the user's id in the page.
            config["shareKey"] = salted_hmac("notifications.tabs", str(user.pk)).hexdigest()[:16]
    return {"signed_in": signed_in, "client_config": config}


def client_strings() -> dict[str, str]:
    """What the page's scripts show, in the request's language (keys: notifications.js, STRINGS)."""
    return {
        "reconnecting": gettext("reconnecting…"),
        "closed": gettext("closed"),
        "signedOut": gettext("signed out"),
        "disconnected": gettext("disconnected"),
        "more": gettext("more"),
        "dismiss": gettext("Dismiss"),
        "deleted": gettext("Deleted."),
        "undo": gettext("Undo"),
        "desktopBlocked": gettext("Desktop notifications are blocked in this browser"),
    }


def _inbox_state(context: template.Context) -> services.InboxState:
    """The signed-in user's newest id and unread count, asked once per request for both tags."""
    request = context.get("request")
    state = getattr(request, "_notifications_inbox_state", None)
    if state is None:
        state = services.inbox_state(context["user"])
        if request is not None:
            request._notifications_inbox_state = state
    return state


@register.filter
def as_datetime(value: str | None) -> object:
    """An ISO 8601 string from a notification payload as a datetime, for the ``date`` filter."""
    return parse_datetime(value) if value else None
