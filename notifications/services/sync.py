"""Catch-up: what a page missed while it was away, so nothing is lost and nothing is shown twice.

The cursor is the newest notification id a page has. A sync answers, oldest
first, every notification above the cursor, in pages ("more" until caught
up), plus those at or below it created shortly before it: a transaction that
took a lower id can commit after one with a higher id, and "ids above the
cursor" alone would skip it. Pages de-duplicate by id, so the overlap is
harmless. The socket joins its groups before it syncs, so anything committed
after the sync's query arrives live: there is no gap at the seam.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Max, Q

from notifications import protocol
from notifications.conf import app_settings
from notifications.exceptions import InvalidQuery
from notifications.models import Delivery, Notification
from notifications.services.inbox import InboxQuery, entries, inbox, unread_count
from notifications.services.payload import serialize

CURSOR_VERSION = "1"


@dataclass(frozen=True)
class SyncResult:
    notifications: list[protocol.NotificationPayload]
    cursor: str | None
    more: bool
    unread_count: int
    reset: bool


@dataclass(frozen=True)
class InboxState:
    """The newest id and the unread count: enough for a page to tell whether it is behind."""

    latest_id: int | None
    unread_count: int


def make_cursor(notification_id: int | None) -> str | None:
    return None if notification_id is None else f"{CURSOR_VERSION}.{notification_id}"


def parse_cursor(value: Any) -> int | None:
    """The id in a cursor from a client; None for "no cursor". Raises InvalidQuery when malformed."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidQuery("cursor: a string from a previous hello or sync frame, or null.")
    version, _dot, number = value.partition(".")
    if version != CURSOR_VERSION or not number.isascii() or not number.isdigit() or len(number) > 18:
        raise InvalidQuery("cursor: not a cursor this server issued; send null for a full resync.")
    return int(number)


def inbox_state(user: AbstractBaseUser) -> InboxState:
    """Newest id and unread count in one query (answered to every heartbeat)."""
    state = Delivery.objects.for_user(user).aggregate(
        latest=Max("notification_id"), unread=Count("pk", filter=Q(read_at__isnull=True))
    )
    return InboxState(latest_id=state["latest"], unread_count=state["unread"])


def sync(user: AbstractBaseUser, cursor: str | None, *, continuation: bool = False) -> SyncResult:
    """What the page with ``cursor`` has not seen, oldest first, one bounded page at a time.

    ``continuation`` says the page asks for the next page of a sync it just
    received (its lookback was already answered). A missing, unknown or purged
    cursor gets a reset: the newest page of the inbox and the true count.
    """
    after = parse_cursor(cursor)
    anchor = _anchor(user, after)
    if anchor is None:
        return _reset(user)
    page_size = int(app_settings.SYNC_PAGE_SIZE)
    mine = entries(Delivery.objects.for_user(user))
    newer = list(mine.filter(notification_id__gt=after).order_by("notification_id")[: page_size + 1])
    more = len(newer) > page_size
    rows = newer[:page_size]
    if not continuation:
        since = anchor - dt.timedelta(seconds=int(app_settings.SYNC_LOOKBACK_SECONDS))
        late = mine.filter(notification_id__lte=after, notification__created_at__gte=since)
        rows = [*late.order_by("notification_id"), *rows]
    newest = rows[-1].notification_id if rows else after
    return SyncResult(
        notifications=[serialize(row.notification, read=row.is_read) for row in rows],
        cursor=make_cursor(max(newest, after)),
        more=more,
        unread_count=unread_count(user),
        reset=False,
    )


def _anchor(user: AbstractBaseUser, after: int | None) -> dt.datetime | None:
    """When the cursor's notification was created, if it is still in this user's reach."""
    if after is None:
        return None
    notification = Notification.objects.filter(pk=after, deliveries__user=user).only("created_at").first()
    return notification.created_at if notification else None


def _reset(user: AbstractBaseUser) -> SyncResult:
    page = inbox(user, InboxQuery(limit=int(app_settings.SYNC_PAGE_SIZE)))
    state = inbox_state(user)
    return SyncResult(
        notifications=list(reversed(page.items)),
        cursor=make_cursor(state.latest_id),
        more=False,
        unread_count=state.unread_count,
        reset=True,
    )
