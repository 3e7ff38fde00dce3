"""Who is online now, in the admin (read-only: presence comes from open sockets)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from presence import services
from presence.models import OnlineUser


@admin.register(OnlineUser)
class OnlineUserAdmin(admin.ModelAdmin):
    list_display = (get_user_model().USERNAME_FIELD, "rooms", "last_login")
    search_fields = (get_user_model().USERNAME_FIELD,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        self._rooms = services.rooms_by_user()
        return super().get_queryset(request).filter(pk__in=self._rooms)

    @admin.display(description="rooms")
    def rooms(self, obj: OnlineUser) -> str:
        return ", ".join(sorted(self._rooms.get(obj.pk, [])))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
