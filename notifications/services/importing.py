"""Bringing a django-notifications-hq site's notifications over, once, without duplicates.

django-notifications-hq (and its continuation, django-notifications-community)
keeps one row per recipient in ``notifications_notification``: recipient,
``unread``, ``deleted``, ``level``, an actor / verb / action object / target
sentence, ``description``, ``timestamp`` and ``data`` (text or JSON). The
table stays in the database when that app is uninstalled; this reads it with
plain SQL (the app need not be installed) and writes each row as one of our
notifications with one delivery:

- title: the sentence that app shows ("alice commented on Post 3"), body: ``description``;
- level as is (unknown levels become info); read/deleted at the row's timestamp;
- actor when it is a user of this site; target when it fits our target columns;
- ``data`` kept, with the old row's id, verb and action object under ``"django_notifications_hq"``.

Each row gets the idempotency key ``django-notifications-hq:<id>``, so running
the import again skips what it already brought over (and picks up new rows).
Nothing is pushed live: these are history.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connections, models, router, transaction
from django.db.models import Case, Value, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from notifications.models import Audience, Delivery, Level, Notification

DEFAULT_TABLE = "notifications_notification"
KEY_PREFIX = "django-notifications-hq:"
COLUMNS = (
    "id, recipient_id, unread, deleted, level, verb, description, timestamp, data, "
    "actor_content_type_id, actor_object_id, target_content_type_id, target_object_id, "
    "action_object_content_type_id, action_object_object_id"
)


@dataclass
class ImportResult:
    imported: int = 0
    already_imported: int = 0
    skipped_no_recipient: int = 0


def import_hq(*, table: str = DEFAULT_TABLE, batch_size: int = 500, dry_run: bool = False) -> ImportResult:
    """Copy every row of a django-notifications-hq table that is not imported yet, oldest first."""
    using = router.db_for_write(Notification)
    result = ImportResult()
    names = _ObjectNames()
    for rows in _batches(using, table, batch_size):
        keys = {f"{KEY_PREFIX}{row['id']}": row for row in rows}
        done = set(
            Notification.objects.using(using).filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True)
        )
        result.already_imported += len(done)
        user_ids = _existing_users(using, rows)
        fresh = [(key, row) for key, row in keys.items() if key not in done]
        wanted = [(key, row) for key, row in fresh if _user_pk(row["recipient_id"]) in user_ids]
        result.skipped_no_recipient += len(fresh) - len(wanted)
        result.imported += len(wanted)
        if wanted and not dry_run:
            _write(using, [_notification(key, row, names, user_ids) for key, row in wanted], [row for _, row in wanted])
    return result


def _existing_users(using: str, rows: list[dict[str, Any]]) -> set[Any]:
    """Which of the batch's recipients (and user actors) still exist here."""
    wanted = {_user_pk(row[column]) for row in rows for column in ("recipient_id", "actor_object_id")} - {None}
    return set(get_user_model()._default_manager.using(using).filter(pk__in=wanted).values_list("pk", flat=True))


def _batches(using: str, table: str, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    """The old table's rows by ascending id, ``batch_size`` at a time (keyset pagination)."""
    connection = connections[using]
    quoted = connection.ops.quote_name(table)
    last_id = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {COLUMNS} FROM {quoted} WHERE id > %s ORDER BY id LIMIT %s",
                [last_id, batch_size],
            )
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        if not rows:
            return
        yield rows
        last_id = rows[-1]["id"]


def _write(using: str, notifications: list[Notification], rows: list[dict[str, Any]]) -> None:
    with transaction.atomic(using=using):
        created = Notification.objects.using(using).bulk_create(notifications)
        # created_at is auto_now_add: set the old timestamps in one statement afterwards.
        Notification.objects.using(using).filter(pk__in=[n.pk for n in created]).update(
            created_at=Case(*(When(pk=n.pk, then=Value(_when(row))) for n, row in zip(created, rows, strict=True)))
        )
        Delivery.objects.using(using).bulk_create(
            Delivery(
                notification=notification,
                user_id=_user_pk(row["recipient_id"]),
                read_at=None if _flag(row["unread"]) else _when(row),
                deleted_at=_when(row) if _flag(row["deleted"]) else None,
            )
            for notification, row in zip(created, rows, strict=True)
        )


def _notification(key: str, row: dict[str, Any], names: _ObjectNames, user_ids: set[Any]) -> Notification:
    actor = names.describe(row["actor_content_type_id"], row["actor_object_id"])
    action_object = names.describe(row["action_object_content_type_id"], row["action_object_object_id"])
    target = names.describe(row["target_content_type_id"], row["target_object_id"])
    # The sentence django-notifications-hq's __str__ shows (without its "... ago").
    title = " ".join(part for part in (actor, row["verb"], action_object) if part)
    if target:
        title = f"{title} on {target}"
    data = _json(row["data"])
    data = data if isinstance(data, dict) else ({} if data is None else {"data": data})
    data["django_notifications_hq"] = {
        "id": row["id"],
        "verb": row["verb"],
        "action_object": names.reference(row["action_object_content_type_id"], row["action_object_object_id"]),
    }
    level = row["level"] if row["level"] in Level.values else Level.INFO
    target_id = str(row["target_object_id"] or "")
    has_target = bool(row["target_content_type_id"]) and 0 < len(target_id) <= 64
    actor_pk = _user_pk(row["actor_object_id"]) if names.is_user_type(row["actor_content_type_id"]) else None
    return Notification(
        title=(title or row["verb"] or "Notification")[:200],
        body=row["description"] or "",
        level=level,
        data=data,
        audience=Audience.USER,
        actor_id=actor_pk if actor_pk in user_ids else None,
        target_type_id=row["target_content_type_id"] if has_target else None,
        target_id=target_id if has_target else "",
        idempotency_key=key,
    )


class _ObjectNames:
    """``str()`` of the objects the old rows point at, each looked up once."""

    def __init__(self) -> None:
        self._names: dict[tuple[Any, Any], str] = {}
        self._user_type = ContentType.objects.get_for_model(get_user_model()).pk

    def is_user_type(self, type_id: Any) -> bool:
        return type_id == self._user_type

    def reference(self, type_id: Any, object_id: Any) -> str | None:
        if not type_id or object_id in (None, ""):
            return None
        content_type = ContentType.objects.get_for_id(type_id)
        return f"{content_type.app_label}.{content_type.model}:{object_id}"

    def describe(self, type_id: Any, object_id: Any) -> str:
        if not type_id or object_id in (None, ""):
            return ""
        if (type_id, object_id) not in self._names:
            self._names[type_id, object_id] = self._lookup(type_id, object_id)
        return self._names[type_id, object_id]

    @staticmethod
    def _lookup(type_id: Any, object_id: Any) -> str:
        try:
            model = ContentType.objects.get_for_id(type_id).model_class()
        except ContentType.DoesNotExist:
            return ""
        if model is None:
            return ""
        try:
            return str(model._default_manager.get(pk=object_id))
        except (model.DoesNotExist, ValueError, TypeError, models.ObjectDoesNotExist):
            return ""  # the object is gone (or its id no longer parses): leave it out of the sentence


def _user_pk(value: Any) -> Any:
    """A recipient/actor id as the user model's primary key type (the old GFK stores text)."""
    try:
        return get_user_model()._meta.pk.to_python(value)
    except (ValueError, TypeError, ValidationError):
        return None


def _when(row: dict[str, Any]) -> Any:
    """The row's timestamp, aware (SQLite hands raw SQL a naive UTC string)."""
    value = row["timestamp"]
    value = parse_datetime(value) if isinstance(value, str) else value
    if settings.USE_TZ and timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    return value


def _flag(value: Any) -> bool:
    return bool(int(value)) if isinstance(value, (int, str)) else bool(value)


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # PostgreSQL jsonb arrives decoded; NULL stays None
    try:
        return json.loads(value)
    except ValueError:
        return {"data": value}
