"""Business rules. Views, consumers, the admin and commands call these; none re-implements one."""

from __future__ import annotations

from notifications.services.inbox import (
    Change,
    InboxPage,
    InboxQuery,
    auth_group_ids,
    delete,
    inbox,
    latest_id,
    mark_all_read,
    mark_read,
    parse_ids,
    parse_inbox_query,
    unread_count,
)
from notifications.services.payload import serialize
from notifications.services.sending import anotify, notify

__all__ = [
    "Change",
    "InboxPage",
    "InboxQuery",
    "anotify",
    "auth_group_ids",
    "delete",
    "inbox",
    "latest_id",
    "mark_all_read",
    "mark_read",
    "notify",
    "parse_ids",
    "parse_inbox_query",
    "serialize",
    "unread_count",
]
