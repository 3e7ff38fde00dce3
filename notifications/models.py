"""Tables: a notification's content is stored once per send; each recipient has a Delivery."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Level(models.TextChoices):
    INFO = "info", _("Info")
    SUCCESS = "success", _("Success")
    WARNING = "warning", _("Warning")
    ERROR = "error", _("Error")


class Audience(models.TextChoices):
    USER = "user", "One user"
    USERS = "users", "Chosen users"
    GROUP = "group", "Group"
    EVERYONE = "everyone", "Everyone"


class Notification(models.Model):
    """What was sent, to which audience, by whom. Read state lives on Delivery."""

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.INFO)
    url = models.CharField(
        max_length=500, blank=True, help_text="Where the notification leads (relative or http/https)."
    )
    kind = models.SlugField(max_length=64, blank=True, help_text="Free-form category for filtering, e.g. 'build'.")
    data = models.JSONField(default=dict, blank=True)

    audience = models.CharField(max_length=16, choices=Audience.choices)
    group = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The auth group it was sent to, when the audience is a group.",
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who sent it (e.g. the admin who composed it).",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who did the thing the notification is about.",
    )
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target_id = models.CharField(max_length=64, blank=True)
    target = GenericForeignKey("target_type", "target_id")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Unique when set: a second store with the same key is recognised as a repeat
    # (import_notifications_hq uses "django-notifications-hq:<id>").
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                # The group is kept only for group sends (it becomes null if deleted).
                condition=Q(group__isnull=True) | Q(audience="group"),
                name="notification_group_only_for_group_audience",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    def for_user(self, user: object) -> DeliveryQuerySet:
        return self.filter(user=user, deleted_at__isnull=True)

    def unread(self) -> DeliveryQuerySet:
        return self.filter(read_at__isnull=True)


class Delivery(models.Model):
    """One recipient's copy of a notification: read and deleted state are per person."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_deliveries")
    read_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-notification_id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "notification"], name="delivery_once_per_user"),
        ]
        indexes = [
            # "My unread, newest first" (the bell's count and dropdown).
            models.Index(
                fields=["user", "-notification"],
                condition=Q(read_at__isnull=True, deleted_at__isnull=True),
                name="delivery_unread_idx",
            ),
        ]
        # "Mine after a cursor" is served by the unique (user, notification) index.

    def __str__(self) -> str:
        return f"{self.notification_id} -> {self.user_id}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class TokenRevocation(models.Model):
    """Socket tokens a user was issued before ``not_before`` are refused (revoke = move it forward)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    not_before = models.DateTimeField()

    def __str__(self) -> str:
        return f"tokens of {self.user_id} before {self.not_before:%Y-%m-%d %H:%M:%S}"
