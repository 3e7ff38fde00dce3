"""Retention (purge_notifications) and the health endpoint."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from notifications import notify, services
from notifications.models import Delivery, Notification
from notifications.testing import RedisServer

pytestmark = pytest.mark.django_db


def age(notification: Notification, days: int) -> None:
    Notification.objects.filter(pk=notification.pk).update(created_at=timezone.now() - dt.timedelta(days=days))


def test_purge_removes_old_notifications_in_batches(alice, bob, capsys) -> None:
    old = [notify([alice, bob], title=f"old{i}") for i in range(5)]
    for notification in old:
        age(notification, 100)
    recent = notify(alice, title="recent")
    call_command("purge_notifications", "--older-than", "90d", "--batch-size", "3")
    assert list(Notification.objects.all()) == [recent]
    assert Delivery.objects.count() == 1
    assert "Removed 5 notification(s) and 10 recipient row(s) older than 90d." in capsys.readouterr().out


def test_purge_read_only_keeps_what_someone_has_not_read(alice, bob) -> None:
    half_read = notify([alice, bob], title="half read")
    all_read = notify([alice, bob], title="all read")
    for notification in (half_read, all_read):
        age(notification, 10)
    services.mark_read(alice, [half_read.pk, all_read.pk])
    services.mark_read(bob, [all_read.pk])
    call_command("purge_notifications", "--older-than", "1w", "--read-only")
    assert list(Notification.objects.all()) == [half_read]
    assert list(Delivery.objects.values_list("user__username", flat=True)) == ["bob"]


def test_purge_dry_run_counts_and_removes_nothing(alice, capsys) -> None:
    age(notify(alice, title="old"), 100)
    call_command("purge_notifications", "--older-than", "90d", "--dry-run")
    assert "Would remove 1 notification(s) and 1 recipient row(s)" in capsys.readouterr().out
    assert Notification.objects.count() == 1


@pytest.mark.parametrize("value", ["90", "d", "-1d", "1y", "90 days"])
def test_purge_refuses_unclear_ages(value) -> None:
    with pytest.raises(CommandError, match="--older-than"):
        call_command("purge_notifications", "--older-than", value)


def test_healthz_is_200_when_database_and_redis_answer(client) -> None:
    response = client.get("/notifications/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "channel_layer": "ok"}


def test_healthz_is_503_naming_the_channel_layer_when_redis_is_down(client) -> None:
    redis = RedisServer.private()
    redis.stop()
    try:
        with override_settings(CHANNEL_LAYERS=redis.channel_layers(), NOTIFICATIONS={"PUSH_TIMEOUT": 0.5}):
            response = client.get("/notifications/healthz")
    finally:
        redis.close()
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["channel_layer"].startswith("error")
