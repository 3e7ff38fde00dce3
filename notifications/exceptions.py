"""Exceptions raised by the notifications app."""

from __future__ import annotations


class NotificationError(Exception):
    """Base class of every error this app raises on purpose."""


class InvalidRecipient(NotificationError, TypeError):
    """Raised by notify() when the recipient is not a user, users, a Group or EVERYONE."""


class InvalidNotification(NotificationError, ValueError):
    """Raised by notify() when a field (title, level, url, data...) is not acceptable."""

    @property
    def field(self) -> str | None:
        """The field the message starts with ("url: ..." -> "url"), for forms to attach it to."""
        head, colon, _rest = str(self).partition(":")
        return head if colon and head.isidentifier() else None


class InvalidQuery(NotificationError, ValueError):
    """Raised when inbox parameters or ids from a client are malformed (HTTP 400, an error frame)."""


class NotificationNotStored(NotificationError):
    """Raised by notify() when the database refused the write; nothing was stored or pushed."""
