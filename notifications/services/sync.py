"""Catch-up: what a page missed while it was away, so nothing is lost and nothing is shown twice.

The cursor names the newest notification id a page has. A sync answers,
oldest first, every notification above it, plus those at or below it created
up to SYNC_LOOKBACK_SECONDS before it: a transaction that took a lower id can
commit after one with a higher id, and "ids above the cursor" alone would skip
it. Pages de-duplicate by id, so the overlap is harmless. Answers are paged
by count and bytes ("more": send the returned cursor again, which then also
carries the position within the answer). The socket joins its groups before
it syncs, so anything committed after the sync's query arrives live: there is
no gap at the seam.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connections, router, transaction
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


@dataclass(frozen=True)
class Cursor:
    """``newest``: the newest id the page has. ``resume``: within a paged answer, the last id sent."""

    newest: int
    resume: int | None = None

    def __str__(self) -> str:
        suffix = f".{self.resume}" if self.resume is not None else ""
        return f"{CURSOR_VERSION}.{self.newest}{suffix}"


def make_cursor(notification_id: int | None) -> str | None:
    return None if notification_id is None else str(Cursor(notification_id))


def parse_cursor(value: Any) -> Cursor | None:
    """A cursor from a client; None for "no cursor". Raises InvalidQuery when malformed."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 60:
        raise InvalidQuery("cursor: a string from a previous sync or pong frame, or null.")
    version, *numbers = value.split(".")
    if (
        version != CURSOR_VERSION
        or len(numbers) not in (1, 2)
        or not all(n.isascii() and n.isdigit() and len(n) <= 18 for n in numbers)
    ):
        raise InvalidQuery("cursor: not a cursor this server issued; send null for a full resync.")
    return Cursor(int(numbers[0]), int(numbers[1]) if len(numbers) == 2 else None)


def inbox_state(user: AbstractBaseUser) -> InboxState:
    """Newest id and unread count in one query (answered to every heartbeat)."""
    state = Delivery.objects.for_user(user).aggregate(
        latest=Max("notification_id"), unread=Count("pk", filter=Q(read_at__isnull=True))
    )
    return InboxState(latest_id=state["latest"], unread_count=state["unread"])


def sync(user: AbstractBaseUser, cursor: str | None) -> SyncResult:
    """What the page with ``cursor`` has not seen, oldest first, one bounded page at a time.

    A page is at most SYNC_PAGE_SIZE notifications and about SYNC_PAGE_BYTES;
    with ``more`` the page sends the returned cursor again for the next one.
    A missing, unknown or purged cursor gets a reset: the newest page of the
    inbox and the true count. The page and the count come from one snapshot of the
    database: a notification committed between the two reads would otherwise be counted
    without being listed, and counted again when its live frame arrives.
    """
    using = router.db_for_read(Delivery)
    outermost = not connections[using].in_atomic_block
    with transaction.atomic(using=using):
        if outermost and connections[using].vendor == "postgresql":
            with connections[using].cursor() as db:  # READ COMMITTED takes a new snapshot per statement
                db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _sync(user, cursor)


def _sync(user: AbstractBaseUser, cursor: str | None) -> SyncResult:
    position = parse_cursor(cursor)
    if position is None:
        return _reset(user)
    window = Q()  # cursor "1.0": the page has nothing yet, so everything is new to it
    if position.newest:
        anchor = _anchor(user, position.newest)
        if anchor is None:
            return _reset(user)
        since = anchor - dt.timedelta(seconds=int(app_settings.SYNC_LOOKBACK_SECONDS))
        window = Q(notification_id__gt=position.newest) | Q(notification__created_at__gte=since)
    page_size = int(app_settings.SYNC_PAGE_SIZE)
    wanted = entries(Delivery.objects.for_user(user)).filter(window)
    if position.resume is not None:
        wanted = wanted.filter(notification_id__gt=position.resume)
    rows = list(wanted.order_by("notification_id")[: page_size + 1])
    items, truncated = _within_budget([serialize(row.notification, read=row.is_read) for row in rows[:page_size]])
    more = truncated or len(rows) > page_size
    last = items[-1]["id"] if items else position.newest
    next_cursor = Cursor(position.newest, last) if more else Cursor(max(position.newest, last))
    return SyncResult(
        notifications=items, cursor=str(next_cursor), more=more, unread_count=unread_count(user), reset=False
    )


def _within_budget(
    payloads: list[protocol.NotificationPayload],
) -> tuple[list[protocol.NotificationPayload], bool]:
    """The leading payloads that fit SYNC_PAGE_BYTES (at least one); True if some were left out."""
    budget = int(app_settings.SYNC_PAGE_BYTES)
    size = 0
    for count, payload in enumerate(payloads):
        size += len(protocol.encode(dict(payload)).encode())
        if count and size > budget:
            return payloads[:count], True
    return payloads, False


def _anchor(user: AbstractBaseUser, newest: int) -> dt.datetime | None:
    """When the cursor's notification was created, if it is still in this user's reach."""
    notification = Notification.objects.filter(pk=newest, deliveries__user=user).only("created_at").first()
    return notification.created_at if notification else None


def _reset(user: AbstractBaseUser) -> SyncResult:
    newest_first, _truncated = _within_budget(inbox(user, InboxQuery(limit=int(app_settings.SYNC_PAGE_SIZE))).items)
    state = inbox_state(user)
    return SyncResult(
        notifications=list(reversed(newest_first)),
        cursor=make_cursor(state.latest_id or 0),
        more=False,
        unread_count=state.unread_count,
        reset=True,
    )
