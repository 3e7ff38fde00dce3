"""Business rules: sending notifications and reading a person's inbox state.

Views, consumers, the admin and management commands call these functions; none
of them re-implements a rule. The database is the source of truth: a
notification is stored first and pushed live only after its transaction
commits (a rolled-back transaction pushes nothing).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction

from notifications import protocol, realtime
from notifications.audience import EVERYONE, _Everyone
from notifications.conf import app_settings
from notifications.exceptions import InvalidNotification, InvalidRecipient
from notifications.models import Audience, Delivery, Level, Notification

Recipient = AbstractBaseUser | Group | _Everyone | Iterable[AbstractBaseUser] | models.QuerySet[Any]

# Rows per INSERT when fanning out to a large group or to everyone.
BULK_BATCH_SIZE = 1000


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
    before anything is stored. Works inside and outside transactions; the push
    never raises, and a failed push is logged (clients catch up through sync).
    """
    audience, group, user_ids = _resolve_recipient(recipient)
    fields = _clean_fields(title=title, body=body, level=level, url=url, kind=kind, data=data)
    with transaction.atomic():
        notification = Notification.objects.create(
            **fields,
            audience=audience,
            group=group,
            sender=sender,
            actor=actor,
            target_type=ContentType.objects.get_for_model(target) if target is not None else None,
            target_id=str(target.pk) if target is not None else "",
        )
        notification.recipient_count = _create_deliveries(notification, user_ids)
        groups = _audience_groups(notification, user_ids)
        frame = protocol.notification_frame(serialize(notification, read=False))
        transaction.on_commit(lambda: realtime.publish(groups, frame), robust=True)
    return notification


async def anotify(recipient: Recipient, **kwargs: Any) -> Notification:
    """``notify()`` for async code (consumers, async views); same arguments.

    Runs in Django's thread for sync code and closes that thread's stale
    database connection afterwards, as Channels does for consumers.
    """
    return await database_sync_to_async(notify)(recipient, **kwargs)


def unread_count(user: AbstractBaseUser) -> int:
    """How many notifications the user has not read (deleted ones excluded)."""
    return Delivery.objects.for_user(user).unread().count()


def auth_group_ids(user: AbstractBaseUser) -> list[int]:
    """The ids of the user's auth groups, whose notifications their sockets receive."""
    return list(user.groups.values_list("id", flat=True))  # type: ignore[attr-defined]


def serialize(notification: Notification, *, read: bool) -> protocol.NotificationPayload:
    """The wire shape of a notification for one recipient, in plain JSON types."""
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


def _create_deliveries(notification: Notification, user_ids: models.QuerySet[Any] | list[int]) -> int:
    """Insert one Delivery per recipient in batches; return how many were stored."""
    ids = user_ids.iterator(chunk_size=BULK_BATCH_SIZE) if isinstance(user_ids, models.QuerySet) else iter(user_ids)
    stored = 0
    while batch := list(itertools.islice(ids, BULK_BATCH_SIZE)):
        Delivery.objects.bulk_create([Delivery(notification=notification, user_id=uid) for uid in batch])
        stored += len(batch)
    return stored


def _audience_groups(notification: Notification, user_ids: models.QuerySet[Any] | list[int]) -> list[str]:
    """One channel-layer group per audience: the group, everyone, or each chosen user."""
    if notification.audience == Audience.EVERYONE:
        return [realtime.everyone_group()]
    if notification.audience == Audience.GROUP:
        return [realtime.auth_group_group(notification.group_id)]
    return [realtime.user_group(uid) for uid in user_ids]


def _clean_fields(
    *, title: str, body: str, level: str, url: str, kind: str, data: dict[str, Any] | None
) -> dict[str, Any]:
    """Validate content before anything is stored; raise InvalidNotification naming the field."""
    if not isinstance(title, str) or not title.strip():
        raise InvalidNotification("title: a non-empty string is required.")
    title = title.strip()
    max_title = Notification._meta.get_field("title").max_length
    if len(title) > max_title:
        raise InvalidNotification(f"title: at most {max_title} characters (got {len(title)}).")
    if not isinstance(body, str):
        raise InvalidNotification("body: must be a string.")
    if level not in Level.values:
        raise InvalidNotification(f"level: must be one of {', '.join(Level.values)} (got {level!r}).")
    if not isinstance(kind, str) or (kind and not _is_slug(kind)) or len(kind) > 64:
        raise InvalidNotification("kind: letters, digits, '-' and '_' only, at most 64 characters.")
    return {
        "title": title,
        "body": body,
        "level": level,
        "url": _clean_url(url),
        "kind": kind,
        "data": _clean_data(data),
    }


def _is_slug(value: str) -> bool:
    return all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in value)


def _clean_url(url: str) -> str:
    if not isinstance(url, str):
        raise InvalidNotification("url: must be a string.")
    url = url.strip()
    max_url = Notification._meta.get_field("url").max_length
    if len(url) > max_url:
        raise InvalidNotification(f"url: at most {max_url} characters.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidNotification("url: must not contain spaces or control characters.")
    parts = urlsplit(url)
    if parts.scheme and parts.scheme.lower() not in app_settings.URL_SCHEMES:
        raise InvalidNotification(
            f"url: scheme {parts.scheme!r} is not allowed "
            f"(use a relative URL or {', '.join(app_settings.URL_SCHEMES)})."
        )
    if url.startswith("//") and not parts.scheme:
        raise InvalidNotification("url: protocol-relative URLs ('//host/...') are not allowed.")
    return url


def _clean_data(data: dict[str, Any] | None) -> dict[str, Any]:
    """Make ``data`` plain JSON (dates to ISO strings, keys to strings) so it is wire-safe."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidNotification("data: must be a dict.")
    try:
        return json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    except (TypeError, ValueError) as exc:
        raise InvalidNotification(f"data: not JSON-serializable ({exc}).") from None
