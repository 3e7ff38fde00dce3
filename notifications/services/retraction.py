"""Retracting sent notifications: gone from the database, and live from every page that shows them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet

from notifications import group_names, protocol, realtime
from notifications.models import Audience, Delivery, Notification


def retract(notifications: Notification | Iterable[Notification] | QuerySet[Notification]) -> int:
    """Delete sent notifications for every recipient; return how many were deleted.

    After commit each audience gets one ``retracted`` frame (a user's group for
    chosen users, the auth group's, everyone's), so every open page drops them
    from the bell, the dropdown and the inbox, and re-counts. Deleting rows any
    other way (``QuerySet.delete()``) tells no page.
    """
    if isinstance(notifications, Notification):
        notifications = [notifications]
    if isinstance(notifications, QuerySet):
        wanted = list(notifications.values_list("pk", flat=True))
    else:
        wanted = [notification.pk for notification in notifications]
    with transaction.atomic():
        locked = Notification.objects.filter(pk__in=wanted).select_for_update()
        rows = list(locked.values_list("pk", "audience", "group_id"))
        ids_by_group = _audience_groups(rows)
        Notification.objects.filter(pk__in=[pk for pk, _, _ in rows]).delete()
        frames = {group: protocol.retracted_frame(sorted(ids)) for group, ids in ids_by_group.items()}
        for group, frame in frames.items():
            realtime.publish([group], frame)  # after the delete commits
    return len(rows)


def _audience_groups(rows: list[tuple[int, str, int | None]]) -> dict[str, list[int]]:
    """Which channel-layer groups showed each notification: the audience's, or its recipients' own."""
    ids_by_group: dict[str, list[int]] = defaultdict(list)
    personal = []
    for pk, audience, group_id in rows:
        if audience == Audience.EVERYONE:
            ids_by_group[group_names.everyone()].append(pk)
        elif audience == Audience.GROUP and group_id is not None:
            ids_by_group[group_names.auth_group(group_id)].append(pk)
        else:  # one or chosen users, or a group since deleted
            personal.append(pk)
    deliveries = Delivery.objects.filter(notification_id__in=personal).values_list("user_id", "notification_id")
    for user_id, pk in deliveries:
        ids_by_group[group_names.user(user_id)].append(pk)
    return ids_by_group
