"""Exceptions raised by the notifications app."""

from __future__ import annotations


class NotificationError(Exception):
    """Base class of every error this app raises on purpose."""


class InvalidRecipient(NotificationError, TypeError):
    """Raised by notify() when the recipient is not a user, users, a Group or EVERYONE."""


class InvalidNotification(NotificationError, ValueError):
    """Raised by notify() when a field (title, level, url, data...) is not acceptable."""


class InvalidQuery(NotificationError, ValueError):
    """Raised when inbox parameters or ids from a client are malformed (HTTP 400, an error frame)."""
