"""HTTP routes of the notifications app: the JSON API and the inbox page."""

from __future__ import annotations

from django.urls import path

from notifications import api, views

app_name = "notifications"

urlpatterns = [
    path("api/notifications/", api.notification_list, name="api-list"),
    path("api/notifications/unread-count/", api.unread_count, name="api-unread-count"),
    path("api/notifications/read-all/", api.mark_all_read, name="api-read-all"),
    path("api/notifications/token/", api.issue_token, name="api-token"),
    path("api/notifications/token/revoke/", api.revoke_tokens, name="api-token-revoke"),
    path("api/notifications/<int:notification_id>/", api.delete, name="api-delete"),
    path("api/notifications/<int:notification_id>/read/", api.mark_read, name="api-read"),
    path("api/notifications/<int:notification_id>/unread/", api.mark_unread, name="api-unread"),
    path("notifications/", views.inbox, name="inbox"),
    path("notifications/action/", views.inbox_action, name="inbox-action"),
    path("live/", views.live, name="live"),
    path("healthz", views.healthz, name="healthz"),
]
