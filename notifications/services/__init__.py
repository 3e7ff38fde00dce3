"""Business rules. Views, consumers, the admin and commands call these; none re-implements one."""

from __future__ import annotations

from notifications.services.inbox import (
    Change,
    InboxPage,
    InboxQuery,
    audience_groups,
    auth_group_ids,
    delete,
    inbox,
    mark_all_read,
    mark_read,
    parse_ids,
    parse_inbox_query,
    unread_count,
)
from notifications.services.online import is_connected
from notifications.services.payload import serialize
from notifications.services.retraction import retract
from notifications.services.sending import anotify, notify
from notifications.services.sync import InboxState, SyncResult, inbox_state, make_cursor, parse_cursor, sync

__all__ = [
    "Change",
    "InboxPage",
    "InboxQuery",
    "InboxState",
    "SyncResult",
    "anotify",
    "audience_groups",
    "auth_group_ids",
    "delete",
    "inbox",
    "inbox_state",
    "is_connected",
    "make_cursor",
    "mark_all_read",
    "mark_read",
    "notify",
    "parse_cursor",
    "parse_ids",
    "parse_inbox_query",
    "retract",
    "serialize",
    "sync",
    "unread_count",
]
