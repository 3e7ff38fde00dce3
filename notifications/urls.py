"""HTTP routes of the notifications app, under whatever prefix the site includes them.

``path("notifications/", include("notifications.urls"))`` gives the inbox at
``/notifications/``, the JSON API under ``/notifications/api/``, the connection
page at ``/notifications/live/``, the event stream (sse.py) at
``/notifications/stream/`` and the health check at ``/notifications/healthz``.
Everything links to these by name (``notifications:inbox``, ...), never by path.
"""

from __future__ import annotations

from django.urls import path, re_path

from notifications import api, sse, views

app_name = "notifications"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("action/", views.inbox_action, name="inbox-action"),
    path("live/", views.live, name="live"),
    path("stream/", sse.stream, name="stream"),
    path("stream/send/", api.stream_send, name="stream-send"),
    path("poll/", sse.poll, name="poll"),
    path("healthz", views.healthz, name="healthz"),
    path("api/", api.notification_list, name="api-list"),
    path("api/sync/", api.sync, name="api-sync"),
    path("api/unread-count/", api.unread_count, name="api-unread-count"),
    path("api/read-all/", api.mark_all_read, name="api-read-all"),
    path("api/token/", api.issue_token, name="api-token"),
    path("api/token/revoke/", api.revoke_tokens, name="api-token-revoke"),
    path("api/<int:notification_id>/", api.delete, name="api-delete"),
    path("api/<int:notification_id>/read/", api.mark_read, name="api-read"),
    path("api/<int:notification_id>/unread/", api.mark_unread, name="api-unread"),
    re_path(r"^api/(?P<path>.*)$", api.not_found),  # last: anything else under the API is a JSON 404
]
