"""No tables of its own: presence lives in Redis. A proxy of User shows who is online in the admin."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import models


class OnlineUser(get_user_model()):  # type: ignore[misc]
    """Whatever the site's user model is (its migration proxies ``settings.AUTH_USER_MODEL``)."""

    # A plain manager, not the user model's own: the migration then reads the same for every site.
    objects = models.Manager()

    class Meta:
        proxy = True
        verbose_name = "online user"
        verbose_name_plural = "online now"
