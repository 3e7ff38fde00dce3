"""Rules behind the admin's bulk actions, so they push live like every other change."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from notifications.audience import EVERYONE
from notifications.models import Audience, Delivery, Notification
from notifications.services.inbox import mark_read
from notifications.services.sending import notify


def mark_deliveries(deliveries: QuerySet[Delivery], *, read: bool) -> int:
    """Mark per-recipient rows read or unread; each affected person's pages update live."""
    rows = sorted(deliveries.values_list("user_id", "notification_id"))
    users = get_user_model()._default_manager.in_bulk({user_id for user_id, _ in rows})
    changed = 0
    for user_id, pairs in groupby(rows, key=lambda pair: pair[0]):
        changed += len(mark_read(users[user_id], [notification_id for _, notification_id in pairs], read=read).changed)
    return changed


def send_again(
    notification: Notification, *, sender: AbstractBaseUser | None, recipients: QuerySet[Any] | None = None
) -> Notification:
    """Send the same content again, as a new notification: to ``recipients``, or to the same audience."""
    if recipients is not None:
        recipient: object = recipients
    elif notification.audience == Audience.EVERYONE:
        recipient = EVERYONE
    elif notification.audience == Audience.GROUP and notification.group is not None:
        recipient = notification.group
    else:
        recipient = get_user_model()._default_manager.filter(notification_deliveries__notification=notification)
    return notify(
        recipient,  # type: ignore[arg-type]
        title=notification.title,
        body=notification.body,
        level=notification.level,
        url=notification.url,
        kind=notification.kind,
        data=notification.data,
        actor=notification.actor,
        target=notification.target,
        sender=sender,
    )
