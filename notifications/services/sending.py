"""Sending: notify() stores a notification for its audience and pushes it after commit.

The database is the source of truth: a notification is stored first and pushed
live only after its transaction commits (a rolled-back transaction pushes
nothing). The push is one channel-layer message per audience.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, models

from notifications import group_names, protocol, realtime
from notifications.audience import EVERYONE, _Everyone
from notifications.exceptions import InvalidRecipient, NotificationNotStored
from notifications.models import Audience, Level, Notification
from notifications.services import storing
from notifications.services.payload import serialize
from notifications.services.validation import clean_content

Recipient = AbstractBaseUser | Group | _Everyone | Iterable[AbstractBaseUser] | models.QuerySet[Any]


def notify(
    recipient: Recipient,
    *,
    title: str,
    body: str = "",
    level: str = Level.INFO,
    url: str = "",
    kind: str = "",
    data: dict[str, Any] | None = None,
    actor: AbstractBaseUser | None = None,
    target: models.Model | None = None,
    sender: AbstractBaseUser | None = None,
) -> Notification:
    """Store a notification for its recipients and push it live after commit.

    ``recipient`` is a user, an iterable or queryset of users, an auth
    ``Group`` (its active members) or ``EVERYONE`` (every active user).
    Returns the stored Notification; ``notification.recipient_count`` says how
    many people received it. Raises InvalidRecipient or InvalidNotification
    before anything is stored, and NotificationNotStored when the database
    refuses the write (locked, unavailable): then nothing is stored or pushed.
    Works inside and outside transactions; the push never raises, and a
    failed push is logged (clients catch up through sync).
    """
    audience, group, user_ids = _resolve_recipient(recipient)
    fields = clean_content(title=title, body=body, level=level, url=url, kind=kind, data=data)
    try:
        return _store_and_schedule_push(audience, group, user_ids, fields, sender=sender, actor=actor, target=target)
    except DatabaseError as exc:
        raise NotificationNotStored(f"The notification was not stored ({type(exc).__name__}: {exc}).") from exc


def _store_and_schedule_push(
    audience: str,
    group: Group | None,
    user_ids: models.QuerySet[Any] | list[int],
    fields: dict[str, Any],
    *,
    sender: AbstractBaseUser | None,
    actor: AbstractBaseUser | None,
    target: models.Model | None,
) -> Notification:
    """The content and a row per recipient in one atomic write, then the push scheduled for after commit."""
    notification = Notification(
        **fields,
        audience=audience,
        group=group,
        sender=sender,
        actor=actor,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
    )
    notification.recipient_count = storing.store(notification, user_ids)
    groups = _audience_groups(notification, user_ids)
    frame = protocol.notification_frame(serialize(notification, read=False))
    realtime.publish(groups, frame)  # after commit: nothing is pushed for a rolled-back send
    return notification


async def anotify(recipient: Recipient, **kwargs: Any) -> Notification:
    """``notify()`` for async code (consumers, async views); same arguments.

    Runs in Django's thread for sync code and closes that thread's stale
    database connection afterwards, as Channels does for consumers.
    """
    return await database_sync_to_async(notify)(recipient, **kwargs)


# --- helpers -------------------------------------------------------------------


def _resolve_recipient(recipient: Recipient) -> tuple[str, Group | None, models.QuerySet[Any] | list[int]]:
    """(audience, group, user ids or a queryset of them) for any accepted recipient."""
    User = get_user_model()
    if recipient is EVERYONE:
        return Audience.EVERYONE, None, User._default_manager.filter(is_active=True).values_list("pk", flat=True)
    if isinstance(recipient, Group):
        if recipient.pk is None:
            raise InvalidRecipient("The group is not saved.")
        return Audience.GROUP, recipient, recipient.user_set.filter(is_active=True).values_list("pk", flat=True)
    if isinstance(recipient, User):
        if recipient.pk is None:
            raise InvalidRecipient("The user is not saved.")
        return Audience.USER, None, [recipient.pk]
    if isinstance(recipient, models.QuerySet):
        if recipient.model is not User:
            raise InvalidRecipient(
                f"A queryset of recipients must be of {User.__name__}, not {recipient.model.__name__}."
            )
        ids = list(recipient.values_list("pk", flat=True))
    elif isinstance(recipient, Iterable) and not isinstance(recipient, (str, bytes, dict)):
        items = list(recipient)
        if not all(isinstance(item, User) and item.pk is not None for item in items):
            raise InvalidRecipient("Every recipient in the list must be a saved user.")
        ids = list(dict.fromkeys(item.pk for item in items))
    else:
        raise InvalidRecipient(
            f"Cannot send to {type(recipient).__name__}: pass a user, users, a Group or notifications.EVERYONE."
        )
    if not ids:
        raise InvalidRecipient("No recipients: the list of users is empty.")
    return (Audience.USER if len(ids) == 1 else Audience.USERS), None, ids


def _audience_groups(notification: Notification, user_ids: models.QuerySet[Any] | list[int]) -> list[str]:
    """One channel-layer group per audience: the group, everyone, or each chosen user."""
    if notification.audience == Audience.EVERYONE:
        return [group_names.everyone()]
    if notification.audience == Audience.GROUP:
        return [group_names.auth_group(notification.group_id)]
    return [group_names.user(uid) for uid in user_ids]
