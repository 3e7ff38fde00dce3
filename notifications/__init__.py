"""Live notifications for Django: stored in the database, pushed over WebSockets.

The public API is small::

    from notifications import notify, anotify, EVERYONE

    notify(user, title="Build finished", url="/builds/42/")
    notify(staff_group, title="Deploy at 17:00", level="warning")
    notify(EVERYONE, title="Maintenance tonight")
    retract(sent)  # deleted for everyone, and dropped live from every open page
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from notifications.audience import EVERYONE

if TYPE_CHECKING:
    from notifications.services import anotify, is_connected, notify, retract

__all__ = ["EVERYONE", "anotify", "is_connected", "notify", "retract"]


def __getattr__(name: str) -> Any:
    # Imported lazily: services imports models, which need the app registry.
    if name in {"notify", "anotify", "is_connected", "retract"}:
        from notifications import services

        return getattr(services, name)
    raise AttributeError(f"module 'notifications' has no attribute {name!r}")
