"""notify() and the read helpers: what is stored, for whom, and what is refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from django.contrib.auth.models import Group, User

from notifications import EVERYONE, anotify, notify, services
from notifications.exceptions import InvalidNotification, InvalidRecipient
from notifications.models import Audience, Delivery, Notification

pytestmark = pytest.mark.django_db


def recipients(notification: Notification) -> set[str]:
    return set(notification.deliveries.values_list("user__username", flat=True))


def test_notify_one_user_stores_content_once_and_one_delivery(alice) -> None:
    sent = notify(alice, title=" Build finished ", body="All green", level="success", url="/builds/42/", kind="build")
    stored = Notification.objects.get()
    assert stored.pk == sent.pk
    assert (stored.title, stored.body, stored.level, stored.url, stored.kind) == (
        "Build finished",
        "All green",
        "success",
        "/builds/42/",
        "build",
    )
    assert stored.audience == Audience.USER
    assert sent.recipient_count == 1
    assert recipients(stored) == {"alice"}
    assert services.unread_count(alice) == 1


def test_notify_a_group_reaches_its_active_members(alice, bob, carol, staff) -> None:
    User.objects.create_user("dave", is_active=False).groups.add(staff)
    sent = notify(staff, title="Staff meeting")
    assert sent.audience == Audience.GROUP
    assert sent.group == staff
    assert recipients(sent) == {"alice", "bob"}
    assert services.unread_count(carol) == 0


def test_notify_everyone_reaches_every_active_user(alice, bob, carol) -> None:
    User.objects.create_user("gone", is_active=False)
    sent = notify(EVERYONE, title="Maintenance")
    assert sent.audience == Audience.EVERYONE
    assert recipients(sent) == {"alice", "bob", "carol"}
    assert sent.recipient_count == 3


def test_notify_a_list_or_queryset_of_users_once_each(alice, bob, carol) -> None:
    assert recipients(notify([alice, bob, alice], title="List")) == {"alice", "bob"}
    from_queryset = notify(User.objects.filter(username__in=["bob", "carol"]), title="Queryset")
    assert recipients(from_queryset) == {"bob", "carol"}
    assert from_queryset.audience == Audience.USERS


def test_large_audiences_get_one_delivery_each_across_insert_batches() -> None:
    """Past one INSERT's batch of ids, as a list and as a group (the rows are built by the database)."""
    many = User.objects.bulk_create([User(username=f"member{i}") for i in range(2500)])
    team = Group.objects.create(name="team")
    team.user_set.set(many)
    as_list = notify(list(User.objects.filter(username__startswith="member")), title="List")
    as_group = notify(team, title="Group")
    for sent in (as_list, as_group):
        assert sent.recipient_count == 2500
        assert Delivery.objects.filter(notification=sent).count() == 2500
        assert Delivery.objects.filter(notification=sent).values("user").distinct().count() == 2500


def test_the_returned_notification_is_the_stored_one(alice) -> None:
    sent = notify(alice, title="Same", data={"k": 1})
    stored = Notification.objects.get(pk=sent.pk)
    assert sent.created_at == stored.created_at
    assert services.serialize(sent, read=False) == services.serialize(stored, read=False)


def test_actor_and_target_are_stored_and_serialized(alice, bob, staff) -> None:
    sent = notify(alice, title="Bob added you", actor=bob, target=staff)
    payload = services.serialize(sent, read=False)
    assert payload["actor"] == {"id": bob.pk, "name": "bob"}
    assert payload["target"] == {"type": "auth.group", "id": str(staff.pk), "name": "staff"}


def test_data_is_stored_as_plain_json(alice) -> None:
    when = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    token = uuid.UUID(int=1)
    sent = notify(alice, title="Data", data={"when": when, "token": token, 7: "int key"})
    assert Notification.objects.get(pk=sent.pk).data == {
        "when": "2026-11-26T12:00:00Z",
        "token": str(token),
        "7": "int key",
    }


@pytest.mark.parametrize(
    "recipient",
    [None, "alice", 42, [], [object()], Group(name="unsaved"), User(username="unsaved")],
)
def test_bad_recipients_are_refused_and_nothing_is_stored(recipient) -> None:
    with pytest.raises(InvalidRecipient):
        notify(recipient, title="Nope")
    assert not Notification.objects.exists()


def test_queryset_of_another_model_is_refused(staff) -> None:
    with pytest.raises(InvalidRecipient, match="queryset"):
        notify(Group.objects.all(), title="Nope")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "level": "fatal"}, "level"),
        ({"title": "ok", "url": "javascript:alert(1)"}, "url"),
        ({"title": "ok", "url": "JaVaScRiPt:alert(1)"}, "url"),
        ({"title": "ok", "url": "data:text/html,<b>x</b>"}, "url"),
        ({"title": "ok", "url": "//evil.example/"}, "url"),
        ({"title": "ok", "url": "/a b"}, "url"),
        ({"title": "ok", "kind": "has space"}, "kind"),
        ({"title": "ok", "data": ["not", "a", "dict"]}, "data"),
        ({"title": "ok", "data": {"x": object()}}, "data"),
        ({"title": "ok", "body": 12}, "body"),
        ({"title": "ok", "body": "x" * 10_001}, "body: at most 10000"),
        ({"title": "ok", "data": {"big": "x" * 20_000}}, "data: at most"),
        # Refused alike on SQLite and PostgreSQL (which refuses NUL and cannot encode lone surrogates).
        ({"title": "a\x00b"}, "title: must not contain NUL"),
        ({"title": "ok", "body": "\x00"}, "body: must not contain NUL"),
        ({"title": "ok", "url": "/a\x00"}, "url: must not contain NUL"),
        ({"title": "ok", "kind": "a\x00"}, "kind"),
        ({"title": "ok", "data": {"note": "a\x00"}}, "data: at note: must not contain NUL"),
        ({"title": "ok", "data": {"a\x00": 1}}, "data: key .* must not contain NUL"),
        ({"title": "\ud800"}, "title: not valid Unicode"),
        ({"title": "ok", "body": "x\udfff"}, "body: not valid Unicode"),
        ({"title": "ok", "data": {"list": ["fine", "\ud800"]}}, "data: at list.1: not valid Unicode"),
        # Browsers read a backslash as "/": both lead to http://evil.example/x.
        ({"title": "ok", "url": "/\\evil.example/x"}, "url: must not contain backslashes"),
        ({"title": "ok", "url": "\\\\evil.example/x"}, "url: must not contain backslashes"),
    ],
)
def test_invalid_content_is_refused_naming_the_field(alice, fields, message) -> None:
    with pytest.raises(InvalidNotification, match=message):
        notify(alice, **fields)
    assert not Notification.objects.exists()


@pytest.mark.parametrize("url", ["", "/relative/", "https://example.com/x", "http://example.com", "?page=2"])
def test_safe_urls_are_accepted(alice, url) -> None:
    assert notify(alice, title="ok", url=url).url == url


def test_unread_count_ignores_read_deleted_and_other_users(alice, bob) -> None:
    notify(alice, title="1")
    notify(alice, title="2")
    notify(bob, title="bob's")
    read, deleted = Delivery.objects.filter(user=alice)[:2]
    read.read_at = read.notification.created_at
    read.save()
    notify(alice, title="3")
    Delivery.objects.filter(pk=deleted.pk).update(deleted_at=deleted.notification.created_at)
    assert services.unread_count(alice) == 1
    assert services.unread_count(bob) == 1


@pytest.mark.django_db(transaction=True)
def test_anotify_works_from_async_code(alice) -> None:
    sent = asyncio.run(anotify(alice, title="From a coroutine"))
    assert Notification.objects.get(pk=sent.pk).title == "From a coroutine"
    assert recipients(sent) == {"alice"}
