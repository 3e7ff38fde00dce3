"""Retention: remove old notifications in small batches, so a big table is never locked for long."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from notifications.models import Delivery, Notification

PURGE_BATCH_SIZE = 1000


@dataclass(frozen=True)
class PurgeResult:
    notifications: int
    deliveries: int


def purge(
    *, older_than: dt.timedelta, read_only: bool = False, dry_run: bool = False, batch_size: int = PURGE_BATCH_SIZE
) -> PurgeResult:
    """Remove notifications sent before ``now - older_than`` with their per-recipient rows.

    With ``read_only``, only rows their recipient read (or deleted) go, and a
    notification goes once no one has it unread. ``dry_run`` counts, removes nothing.
    """
    cutoff = timezone.now() - older_than
    rows = Delivery.objects.filter(notification__created_at__lt=cutoff)
    if read_only:
        rows = rows.filter(Q(read_at__isnull=False) | Q(deleted_at__isnull=False))
    old = Notification.objects.filter(created_at__lt=cutoff)
    if dry_run:
        kept = Delivery.objects.filter(notification__created_at__lt=cutoff).exclude(pk__in=rows.values("pk"))
        return PurgeResult(
            notifications=old.exclude(pk__in=kept.values("notification_id")).count(), deliveries=rows.count()
        )
    deliveries = _delete_in_batches(Delivery.objects.all(), rows, batch_size)
    notifications = _delete_in_batches(Notification.objects.all(), old.filter(deliveries__isnull=True), batch_size)
    return PurgeResult(notifications=notifications, deliveries=deliveries)


def _delete_in_batches(table: object, selection: object, batch_size: int) -> int:
    removed = 0
    while ids := list(selection.values_list("pk", flat=True)[:batch_size]):  # type: ignore[attr-defined]
        removed += table.filter(pk__in=ids).delete()[0]  # type: ignore[attr-defined]
    return removed
