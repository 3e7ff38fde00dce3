"""The audiences a notification can be sent to (importable before apps are ready)."""

from __future__ import annotations

from typing import Final, final


@final
class _Everyone:
    """Marker for "every active user"; use the ``EVERYONE`` constant."""

    _instance: _Everyone | None = None

    def __new__(cls) -> _Everyone:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "notifications.EVERYONE"

    def __reduce__(self) -> str:
        return "EVERYONE"


EVERYONE: Final = _Everyone()
