"""Whether a user has the notifications socket open anywhere, for ``notify()`` callers.

For example, send an email only to people who would not see the notification live::

    if not is_connected(user):
        send_mail(...)
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from notifications import connections, publisher


def is_connected(user: AbstractBaseUser) -> bool:
    """True when the user has at least one open socket (any tab, device or server process)."""
    try:
        return publisher.run_on_publisher(connections.count(user.pk)) > 0
    except Exception:  # noqa: BLE001 - unknown is "not connected": the caller falls back to other channels
        return False
