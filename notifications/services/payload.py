"""The wire shape of a notification, shared by the socket and the HTTP API."""

from __future__ import annotations

from notifications.models import Notification
from notifications.protocol import NotificationPayload


def serialize(notification: Notification, *, read: bool) -> NotificationPayload:
    """One notification as one recipient sees it, in plain JSON types (msgpack- and JSON-safe)."""
    actor = notification.actor
    target_type = notification.target_type
    return {
        "id": notification.pk,
        "title": notification.title,
        "body": notification.body,
        "level": notification.level,
        "url": notification.url,
        "kind": notification.kind,
        "data": notification.data,
        "created_at": notification.created_at.isoformat(),
        "read": read,
        "actor": {"id": actor.pk, "name": str(actor)} if actor is not None else None,
        "target": (
            {
                "type": f"{target_type.app_label}.{target_type.model}",
                "id": notification.target_id,
                "name": str(notification.target or ""),
            }
            if target_type is not None
            else None
        ),
    }
