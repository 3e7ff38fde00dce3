"""No tables of its own: presence lives in Redis. A proxy of User shows who is online in the admin."""

from __future__ import annotations

from django.contrib.auth import get_user_model


class OnlineUser(get_user_model()):  # type: ignore[misc]
    class Meta:
        proxy = True
        verbose_name = "online user"
        verbose_name_plural = "online now"
