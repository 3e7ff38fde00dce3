from __future__ import annotations

from django.apps import AppConfig


class PresenceConfig(AppConfig):
    """Who is online, per room: built only on the notifications extension API (topics)."""

    name = "presence"
    verbose_name = "Presence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from presence import checks, topic  # noqa: F401  (registers the topic and the checks)
