"""JSON API for the signed-in user's inbox. Thin: parse, call a service, answer JSON.

Errors are JSON too: 401 not signed in, 403 CSRF, 400 bad parameters, 404 an
id not in the caller's inbox (never 403: existence is not leaked), 405 wrong method.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from notifications import protocol, services, sse
from notifications.exceptions import InvalidQuery
from notifications.responses import JsonResponse
from notifications.services import tokens

View = Callable[..., HttpResponse]


def error(status: int, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def json_endpoint(*methods: str) -> Callable[[View], View]:
    """Method check (405), session auth (401) and CSRF on unsafe methods (403), all answered in JSON."""

    def decorate(view: View) -> View:
        @csrf_exempt  # checked below, so a failure is JSON instead of Django's HTML page
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = error(405, f"Method {request.method} not allowed; use {', '.join(methods)}.")
                response["Allow"] = ", ".join(methods)
                return response
            if not request.user.is_authenticated:
                return error(401, "Sign in to use the notifications API.")
            if request.method not in {"GET", "HEAD", "OPTIONS"} and not _csrf_ok(request):
                return error(403, "CSRF check failed: send the csrftoken cookie's value in an X-CSRFToken header.")
            try:
                return view(request, *args, **kwargs)
            except InvalidQuery as exc:
                return error(400, str(exc))

        return wrapper

    return decorate


def _csrf_ok(request: HttpRequest) -> bool:
    middleware = CsrfViewMiddleware(lambda _request: HttpResponse())
    middleware.process_request(request)
    return middleware.process_view(request, lambda _request: HttpResponse(), (), {}) is None


@json_endpoint("GET")
def notification_list(request: HttpRequest) -> JsonResponse:
    query = services.parse_inbox_query(request.GET)
    page = services.inbox(request.user, query)
    next_url = None
    if page.next_before is not None:
        params = request.GET.copy()
        params["before"] = str(page.next_before)
        next_url = f"{request.path}?{params.urlencode()}"
    return JsonResponse({"results": page.items, "next": next_url})


@json_endpoint("GET")
def sync(request: HttpRequest) -> HttpResponse:
    """One page of the socket's ``sync`` over HTTP (``?cursor=``), for clients on the event stream."""
    result = services.sync(request.user, request.GET.get("cursor") or None)
    return HttpResponse(protocol.sync_answer(None, result) + "\n", content_type="application/json")


@json_endpoint("GET")
def unread_count(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"unread_count": services.unread_count(request.user)})


@json_endpoint("POST")
def mark_read(request: HttpRequest, notification_id: int) -> JsonResponse:
    return _one(services.mark_read, request, notification_id)


@json_endpoint("POST")
def mark_unread(request: HttpRequest, notification_id: int) -> JsonResponse:
    return _one(functools.partial(services.mark_read, read=False), request, notification_id)


@json_endpoint("DELETE")
def delete(request: HttpRequest, notification_id: int) -> JsonResponse:
    return _one(services.delete, request, notification_id)


@json_endpoint("POST")
def mark_all_read(request: HttpRequest) -> JsonResponse:
    """Optional ``up_to`` (JSON body or form field): mark read only what the person has seen."""
    up_to = _body(request).get("up_to")
    up_to = services.parse_ids([up_to], field="up_to")[0] if up_to not in (None, "") else None
    change = services.mark_all_read(request.user, up_to=up_to)
    return JsonResponse({"updated": len(change.changed), "unread_count": change.unread_count})


def _one(action: Callable[..., services.Change], request: HttpRequest, notification_id: int) -> JsonResponse:
    """Apply a read-state action to one id; 404 unless it is in the caller's inbox."""
    if notification_id >= 2**63:  # beyond any id the database can hold
        return error(404, "No such notification in your inbox.")
    change = action(request.user, [notification_id])
    if change.missing:
        return error(404, "No such notification in your inbox.")
    return JsonResponse({"updated": len(change.changed), "unread_count": change.unread_count})


def _body(request: HttpRequest) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            raise InvalidQuery("The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise InvalidQuery("The body must be a JSON object.")
        return data
    return request.POST.dict()


@json_endpoint("POST")
def stream_send(request: HttpRequest) -> JsonResponse:
    """``{"stream": <key from its hello>, "frame": {...}}``: a subscribe or unsubscribe for the caller's event stream.

    Answered on the stream itself, like on the socket; 202 here once it is passed on.
    """
    body = _body(request)
    sse.send_page_frame(request.user, body.get("stream"), body.get("frame"))
    return JsonResponse({"accepted": True}, status=202)


@json_endpoint("POST")
def issue_token(request: HttpRequest) -> JsonResponse:
    """A short-lived token for a non-browser client to open the socket with."""
    issued = tokens.issue_token(request.user)
    return JsonResponse({"token": issued.token, "expires_in": issued.expires_in})


@json_endpoint("POST")
def revoke_tokens(request: HttpRequest) -> JsonResponse:
    """Refuse every token issued so far, and close the sockets opened with one."""
    tokens.revoke_tokens(request.user)
    return JsonResponse({"revoked": True})


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any other path under the API: a JSON 404, as the API's other errors are JSON."""
    return error(404, f"No such API endpoint: {request.path}")
