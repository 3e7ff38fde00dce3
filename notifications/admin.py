"""Admin: browse what was sent and who received it (the composer comes with the inbox issue)."""

from __future__ import annotations

from django.contrib import admin

from notifications.models import Delivery, Notification


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ("user", "read_at", "deleted_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("title", "level", "audience", "group", "sender", "created_at")
    list_filter = ("level", "audience", "kind", "created_at")
    search_fields = ("title", "body")
    date_hierarchy = "created_at"
    list_select_related = ("group", "sender")
    readonly_fields = ("audience", "group", "sender", "actor", "target_type", "target_id", "created_at")
    inlines = [DeliveryInline]

    def has_add_permission(self, request: object) -> bool:
        # Sending goes through notify() so the push happens; the composer is a later step.
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        # Sent content is read-only: an edit here would not reach open pages.
        return False
