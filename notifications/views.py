"""The inbox page: server-rendered so it works without JavaScript, live when it is on."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from notifications import services
from notifications.conf import app_settings
from notifications.exceptions import InvalidQuery
from notifications.models import Level
from notifications.responses import JsonResponse
from notifications.services.health import health

# The layout the pages extend when the site names none: a complete page with the bell.
FALLBACK_BASE_TEMPLATE = "notifications/standalone.html"


def render_page(request: HttpRequest, template: str, context: dict[str, Any] | None = None) -> HttpResponse:
    """A page of the app inside the site's layout: NOTIFICATIONS["BASE_TEMPLATE"], else the app's plain one."""
    base = app_settings.BASE_TEMPLATE or FALLBACK_BASE_TEMPLATE
    return render(request, template, {**(context or {}), "notifications_base_template": base})


def bad_request(request: HttpRequest, message: str) -> HttpResponse:
    """A 400 in the site's layout, saying what was wrong, with a way back to the inbox."""
    response = render_page(request, "notifications/bad_request.html", {"message": message})
    response.status_code = 400
    return response


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    try:
        query = services.parse_inbox_query(request.GET)
    except InvalidQuery as exc:
        return bad_request(request, str(exc))
    page = services.inbox(request.user, query)
    next_params = request.GET.copy()
    if page.next_before is not None:
        next_params["before"] = str(page.next_before)
    filters = request.GET.copy()
    filters.pop("before", None)
    return render_page(
        request,
        "notifications/inbox.html",
        {
            "page": page,
            "query": query,
            "levels": Level.choices,
            "next_query": next_params.urlencode() if page.next_before is not None else None,
            "first_query": filters.urlencode(),
            "is_first_page": query.before is None,
            "unread_count": services.unread_count(request.user),
            "here": request.get_full_path(),
        },
    )


@login_required
@require_GET
def live(request: HttpRequest) -> HttpResponse:
    """The connection page: the socket's lifecycle, handshake and frames, live."""
    return render_page(request, "notifications/live.html")


@login_required
@require_POST
def inbox_action(request: HttpRequest) -> HttpResponse:
    """Form posts from the inbox page (mark read/unread, delete, mark all read), then back."""
    action = request.POST.get("action")
    try:
        if action == "read_all":
            up_to = request.POST.get("up_to")
            services.mark_all_read(request.user, up_to=services.parse_ids([up_to], field="up_to")[0] if up_to else None)
        elif action in {"read", "unread", "delete"}:
            ids = services.parse_ids([request.POST.get("id", "")])
            if action == "delete":
                services.delete(request.user, ids)
            else:
                services.mark_read(request.user, ids, read=action == "read")
        else:
            return bad_request(request, "Unknown action.")
    except InvalidQuery as exc:
        return bad_request(request, str(exc))
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, require_https=request.is_secure()):
        back = reverse("notifications:inbox")
    return HttpResponseRedirect(back)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 when the database and the channel layer answer in time, else 503 naming the part."""
    parts = health()
    healthy = all(state == "ok" for state in parts.values())
    return JsonResponse(parts, status=200 if healthy else 503)
