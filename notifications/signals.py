"""Thin: account events that open sockets must act on, pushed after commit.

The scope's user is fixed when a socket connects, so without these a socket
would keep receiving after its session logged out, its user was deactivated,
or the user left an auth group.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.dispatch import receiver
from django.utils import timezone

from notifications import group_names, realtime
from notifications.realtime import Control

User = get_user_model()


@receiver(user_logged_out)
def close_sockets_of_the_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        realtime.control([group_names.session(session_key)], Control.LOGGED_OUT)


@receiver(post_save, sender=User)
def close_sockets_of_deactivated_users(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created:
        return
    if not getattr(instance, "is_active", True):
        realtime.control([group_names.user(instance.pk)], Control.DEACTIVATED)
    elif getattr(instance, "_password", None) is not None:
        # set_password() then save(): sessions signed in with the old password end (their
        # auth hash no longer matches), except one kept by update_session_auth_hash().
        realtime.control([group_names.user(instance.pk)], Control.REVALIDATE)


def close_sockets_of_deleted_session(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A session row deleted (an admin ending it, a flush): its sockets close (4401).

    Connected only for database-backed session engines (see ``connect_session_signals``).
    Sessions already expired are skipped: their sockets find out on the heartbeat re-check.
    """
    expires = getattr(instance, "expire_date", None)
    if expires is None or expires > timezone.now():
        realtime.control([group_names.session(instance.session_key)], Control.LOGGED_OUT)


def connect_session_signals() -> None:
    """Watch the session table, when the site's session engine has one."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if hasattr(store, "get_model_class"):
        post_delete.connect(close_sockets_of_deleted_session, sender=store.get_model_class(), weak=False)


@receiver(m2m_changed, sender=User.groups.through)
def regroup_sockets(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **kwargs: Any
) -> None:
    """user.groups.add/remove/clear, or group.user_set.add/remove/clear: affected users re-join."""
    if action == "pre_clear" and reverse:
        instance._notifications_cleared_users = list(instance.user_set.values_list("pk", flat=True))
        return
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if not reverse:
        user_ids = [instance.pk]
    elif action == "post_clear":
        user_ids = getattr(instance, "_notifications_cleared_users", [])
    else:
        user_ids = list(pk_set or [])
    _regroup(user_ids)


@receiver(pre_delete, sender=Group)
def regroup_members_of_deleted_group(sender: Any, instance: Group, **kwargs: Any) -> None:
    _regroup(list(instance.user_set.values_list("pk", flat=True)))


def _regroup(user_ids: list[int]) -> None:
    """The users' open sockets re-read their auth groups (after commit)."""
    if user_ids:
        realtime.control([group_names.user(uid) for uid in user_ids], Control.GROUPS_CHANGED)
