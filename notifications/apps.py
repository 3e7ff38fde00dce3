from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    # Not "notifications": that label (and its tables) belong to django-notifications-hq,
    # which many sites migrate from (see the import_notifications_hq command).
    label = "live_notifications"
    verbose_name = "Notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notifications import checks, conf, signals  # noqa: F401  (registers checks, settings reset, receivers)

        signals.connect_session_signals()
