"""import_notifications_hq against the tables django-notifications-hq and its continuation really create."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection

from notifications import services
from notifications.models import Delivery, Notification

FIXTURES = Path(__file__).parent / "fixtures"
WHEN = dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(params=["hq", "hqcom"], ids=["django-notifications-hq", "django-notifications-community"])
def old_table(request, transactional_db) -> Iterator[str]:
    """The old app's table, from its real DDL, in the test database (gone afterwards)."""
    lines = (FIXTURES / f"{request.param}.{connection.vendor}.sql").read_text().splitlines()
    ddl = "\n".join(line for line in lines if not line.startswith("--"))
    statements = [statement for statement in ddl.split(";\n") if statement.strip()]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    yield "notifications_notification"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE notifications_notification")


def add_old_row(recipient: User, *, verb: str, actor: object, unread: bool = True, deleted: bool = False, **extra):
    columns = {
        "level": "info",
        "unread": unread,
        "deleted": deleted,
        "public": True,
        "emailed": False,
        "verb": verb,
        "description": None,
        "timestamp": WHEN,
        "recipient_id": recipient.pk,
        "actor_content_type_id": ContentType.objects.get_for_model(actor).pk,
        "actor_object_id": str(actor.pk),
        "data": None,
        **extra,
    }
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO notifications_notification ({names}) VALUES ({marks})", list(columns.values()))


def test_the_old_notifications_arrive_with_their_state_and_a_second_run_adds_only_new_ones(
    old_table, alice, bob, staff, capsys
) -> None:
    group_type = ContentType.objects.get_for_model(Group)
    add_old_row(
        alice,
        verb="commented",
        actor=bob,
        level="warning",
        description="Looks good to me",
        target_content_type_id=group_type.pk,
        target_object_id=str(staff.pk),
        data=json.dumps({"url": "/posts/3/"}),
    )
    add_old_row(alice, verb="was archived", actor=staff, unread=False, deleted=True, level="custom-level")
    add_old_row(bob, verb="joined", actor=alice, unread=False)

    call_command("import_notifications_hq", "--dry-run")
    assert "Would import 3 notification(s)" in capsys.readouterr().out
    assert not Notification.objects.exists()

    call_command("import_notifications_hq", "--batch-size", "2")
    assert "Imported 3 notification(s); 0 imported before" in capsys.readouterr().out

    # What alice sees: the commented one, unread, in the sentence the old app showed.
    page = services.inbox(alice, services.parse_inbox_query({}))
    assert [item["title"] for item in page.items] == [f"{bob} commented on {staff}"]
    assert services.unread_count(alice) == 1
    commented = Notification.objects.get(title=f"{bob} commented on {staff}")
    assert commented.body == "Looks good to me"
    assert commented.level == "warning"
    assert commented.actor == bob
    assert commented.target == staff
    assert commented.created_at == WHEN
    assert commented.data["url"] == "/posts/3/"
    assert commented.data["django_notifications_hq"]["verb"] == "commented"

    archived = Delivery.objects.get(notification__title=f"{staff} was archived")
    assert archived.notification.level == "info"  # a level this app does not know
    assert archived.notification.actor is None  # the actor was not a user
    assert archived.read_at == WHEN
    assert archived.deleted_at == WHEN
    assert Delivery.objects.get(user=bob).read_at == WHEN
    assert services.unread_count(bob) == 0

    add_old_row(bob, verb="was invited", actor=alice)
    call_command("import_notifications_hq")
    assert "Imported 1 notification(s); 3 imported before" in capsys.readouterr().out
    assert Notification.objects.count() == 4
    assert services.unread_count(bob) == 1


def test_a_missing_table_is_a_clear_error(transactional_db) -> None:
    with pytest.raises(CommandError, match="Could not read 'no_such_table'"):
        call_command("import_notifications_hq", "--table", "no_such_table")
