"""A person's inbox: listing, counting, and read-state changes pushed to all their pages.

Every change is scoped to the caller's own deliveries: an id that is not in
their inbox is reported as missing, exactly like one that does not exist, so
existence is never leaked. Each change pushes a ``read_state`` frame with the
new unread count to every open page of that person, after commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from notifications import group_names, protocol, realtime
from notifications.exceptions import InvalidQuery
from notifications.models import Delivery, DeliveryQuerySet, Level
from notifications.services.payload import serialize

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# Most ids one mark_read call accepts (a page's worth, with room).
MAX_IDS_PER_CALL = 200


@dataclass(frozen=True)
class InboxQuery:
    """Validated filters and position of one inbox page."""

    unread_only: bool = False
    level: str | None = None
    kind: str | None = None
    before: int | None = None
    limit: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class InboxPage:
    items: list[protocol.NotificationPayload]
    next_before: int | None


@dataclass(frozen=True)
class Change:
    """What a read-state call did: ids it changed, ids not in the inbox, the new count."""

    changed: list[int]
    missing: list[int] = field(default_factory=list)
    unread_count: int = 0


def parse_inbox_query(params: Mapping[str, str]) -> InboxQuery:
    """Read ``unread``, ``level``, ``kind``, ``before`` and ``limit``; raise InvalidQuery saying what is wrong."""
    unread = params.get("unread", "")
    if unread not in {"", "0", "1", "true", "false"}:
        raise InvalidQuery("unread: use 1 or 0.")
    level = params.get("level") or None
    if level is not None and level not in Level.values:
        raise InvalidQuery(f"level: one of {', '.join(Level.values)}.")
    kind = params.get("kind") or None
    if kind is not None and len(kind) > 64:
        raise InvalidQuery("kind: at most 64 characters.")
    return InboxQuery(
        unread_only=unread in {"1", "true"},
        level=level,
        kind=kind,
        before=_positive_int(params.get("before"), "before"),
        limit=min(_positive_int(params.get("limit"), "limit") or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
    )


def parse_ids(values: Iterable[Any], *, field: str = "ids") -> list[int]:
    """Validate notification ids from outside (JSON numbers, or digit strings from forms and URLs).

    Raises InvalidQuery on the first value that is not a positive id the database could hold.
    """
    ids = []
    for value in values:
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            raise InvalidQuery(f"{field}: {str(value)[:30]!r} is not a notification id (a positive integer).")
        ids.append(value)
    if len(ids) > MAX_IDS_PER_CALL:
        raise InvalidQuery(f"{field}: at most {MAX_IDS_PER_CALL} per call.")
    return list(dict.fromkeys(ids))


def unread_count(user: AbstractBaseUser) -> int:
    """How many notifications the user has not read (deleted ones excluded)."""
    return Delivery.objects.for_user(user).unread().count()


def auth_group_ids(user: AbstractBaseUser) -> list[int]:
    """The ids of the user's auth groups, whose notifications their sockets receive."""
    return list(user.groups.values_list("id", flat=True))  # type: ignore[attr-defined]


def audience_groups(user: AbstractBaseUser) -> list[str]:
    """The shared groups that carry a user's notifications besides their own: their auth groups, everyone."""
    return [*(group_names.auth_group(group_id) for group_id in auth_group_ids(user)), group_names.everyone()]


def inbox(user: AbstractBaseUser, query: InboxQuery | None = None) -> InboxPage:
    """One page of the inbox, newest first. ``next_before`` continues it, or is None at the end.

    Paging by "ids below the last one seen" stays stable while new
    notifications arrive: they sort above the pages already read.
    """
    query = query or InboxQuery()
    deliveries = entries(Delivery.objects.for_user(user))
    if query.unread_only:
        deliveries = deliveries.unread()
    if query.level:
        deliveries = deliveries.filter(notification__level=query.level)
    if query.kind:
        deliveries = deliveries.filter(notification__kind=query.kind)
    if query.before:
        deliveries = deliveries.filter(notification_id__lt=query.before)
    rows = list(deliveries.order_by("-notification_id")[: query.limit + 1])
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return InboxPage(
        items=[serialize(row.notification, read=row.is_read) for row in rows],
        next_before=rows[-1].notification_id if more else None,
    )


def mark_read(user: AbstractBaseUser, ids: Iterable[int], *, read: bool = True) -> Change:
    """Mark the user's notifications read (or unread with ``read=False``)."""
    wanted = list(dict.fromkeys(ids))
    with transaction.atomic():
        # One locked read says both which ids are in the inbox and which change state.
        state = dict(
            Delivery.objects.for_user(user)
            .filter(notification_id__in=wanted)
            .select_for_update()
            .values_list("notification_id", "read_at")
        )
        changed = sorted(nid for nid, read_at in state.items() if (read_at is None) == read)
        Delivery.objects.filter(user=user, notification_id__in=changed).update(read_at=timezone.now() if read else None)
        return _changed(user, "read" if read else "unread", changed, missing=[i for i in wanted if i not in state])


def mark_all_read(user: AbstractBaseUser, *, up_to: int | None = None) -> Change:
    """Mark everything read, or only up to the newest id the person has seen (``up_to``)."""
    unread = Delivery.objects.for_user(user).unread()
    if up_to is not None:
        unread = unread.filter(notification_id__lte=up_to)
    with transaction.atomic():
        changed = sorted(unread.select_for_update().values_list("notification_id", flat=True))
        Delivery.objects.filter(user=user, notification_id__in=changed).update(read_at=timezone.now())
        up_to = up_to if up_to is not None else (max(changed) if changed else None)
        return _changed(user, "all_read", changed, up_to=up_to)


def delete(user: AbstractBaseUser, ids: Iterable[int]) -> Change:
    """Remove notifications from the user's inbox (the sent content stays for others)."""
    wanted = list(dict.fromkeys(ids))
    with transaction.atomic():
        mine = Delivery.objects.for_user(user).filter(notification_id__in=wanted).select_for_update()
        changed = sorted(mine.values_list("notification_id", flat=True))
        Delivery.objects.filter(user=user, notification_id__in=changed).update(deleted_at=timezone.now())
        return _changed(user, "deleted", changed, missing=[i for i in wanted if i not in changed])


def entries(deliveries: DeliveryQuerySet) -> DeliveryQuerySet:
    """Deliveries with everything serialize() reads, in a constant number of queries."""
    return deliveries.select_related("notification__actor", "notification__target_type").prefetch_related(
        "notification__target"
    )


def _changed(
    user: AbstractBaseUser,
    change: str,
    changed: list[int],
    *,
    missing: list[int] | None = None,
    up_to: int | None = None,
) -> Change:
    """Count, and push the change to every page of the user after commit (when something changed)."""
    count = unread_count(user)
    if changed:
        # "all_read" is described by up_to alone: its id list could be the whole inbox.
        ids = [] if change == "all_read" else changed
        frame = protocol.read_state_frame(change=change, ids=ids, up_to=up_to, unread_count=count)
        groups = [group_names.user(user.pk)]
        realtime.publish(groups, frame)
    return Change(changed=changed, missing=missing or [], unread_count=count)


def _positive_int(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18 or int(value) == 0:
        raise InvalidQuery(f"{name}: a positive integer is required.")
    return int(value)
