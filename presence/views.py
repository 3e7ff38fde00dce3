"""The demo page: who is in a room, live."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from notifications.views import render_page
from presence.topic import ROOM


@login_required
def room(request: HttpRequest, name: str = "lobby") -> HttpResponse:
    if not ROOM.match(name):
        return HttpResponseBadRequest("Room names are lowercase letters, digits, '-' and '_'.")
    return render_page(request, "presence/room.html", {"room": name, "presence_params": {"room": name}})
