"""Sync: a page that was away catches up with nothing lost and nothing repeated."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection, transaction
from django.test import override_settings

from notifications import notify, services
from notifications.exceptions import InvalidQuery
from notifications.models import Delivery, Notification
from notifications.testing import DaphneServer, open_socket, receive_frame


def ids(result) -> list[int]:
    return [n["id"] for n in result.notifications]


@pytest.mark.django_db
def test_no_cursor_is_a_reset_to_the_current_inbox(alice) -> None:
    sent = [notify(alice, title=str(i)).pk for i in range(3)]
    services.mark_read(alice, sent[:1])
    result = services.sync(alice, None)
    assert result.reset is True
    assert ids(result) == sent  # oldest first
    assert result.unread_count == 2
    assert result.cursor == f"1.{sent[-1]}"
    assert result.more is False


def follow(user, cursor: str) -> tuple[list[int], str, int]:
    """Sync like a page does: send the returned cursor again while "more"; (ids in order, cursor, pages)."""
    collected, pages = [], 0
    while True:
        page = services.sync(user, cursor)
        collected += ids(page)
        cursor, pages = page.cursor, pages + 1
        if not page.more:
            return collected, cursor, pages


@pytest.mark.django_db
def test_sync_returns_what_is_above_the_cursor_in_pages(alice, bob) -> None:
    seen = notify(alice, title="seen").pk
    missed = [notify(alice, title=f"missed {i}").pk for i in range(5)]
    notify(bob, title="not Alice's")
    with override_settings(NOTIFICATIONS={"SYNC_PAGE_SIZE": 2}):
        collected, cursor, pages = follow(alice, f"1.{seen}")
    assert collected == [seen, *missed]  # "seen" is the lookback overlap; pages de-duplicate by id
    assert cursor == f"1.{missed[-1]}"
    assert pages == 3


@pytest.mark.django_db
def test_sync_pages_are_bounded_in_bytes(alice) -> None:
    seen = notify(alice, title="seen").pk
    big = [notify(alice, title=f"big {i}", body="x" * 9000).pk for i in range(6)]
    with override_settings(NOTIFICATIONS={"SYNC_PAGE_BYTES": 20_000}):
        first = services.sync(alice, f"1.{seen}")
        collected, _cursor, pages = follow(alice, f"1.{seen}")
    assert len(first.notifications) <= 3  # the small "seen" and two of 9 KB fit 20 KB
    assert first.more is True
    assert collected == [seen, *big]
    assert pages >= 3


@pytest.mark.django_db
def test_a_row_committed_out_of_id_order_is_not_missed(alice) -> None:
    """A takes the lower id, B the higher; B becomes visible first, the page syncs, then A appears."""
    base = notify(alice, title="before").pk
    low_id, high_id = base + 100, base + 101
    b = Notification.objects.create(pk=high_id, title="B", audience="user")
    Delivery.objects.create(notification=b, user=alice)
    after_b = services.sync(alice, f"1.{base}")
    assert high_id in ids(after_b)
    a = Notification.objects.create(pk=low_id, title="A", audience="user")
    Delivery.objects.create(notification=a, user=alice)
    after_a = services.sync(alice, after_b.cursor)
    assert low_id in ids(after_a)


@pytest.mark.django_db(transaction=True)
def test_concurrent_transactions_committing_out_of_order(alice) -> None:
    """The same with real concurrent transactions (PostgreSQL: SQLite serializes writers)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite allows one writer at a time, so ids cannot commit out of order there")
    base = notify(alice, title="before").pk
    a_inserted, b_committed = threading.Event(), threading.Event()
    a_ids: list[int] = []

    def transaction_a() -> None:
        with transaction.atomic():
            a_ids.append(notify(alice, title="A").pk)
            a_inserted.set()
            b_committed.wait(10)
        connection.close()

    thread = threading.Thread(target=transaction_a)
    thread.start()
    assert a_inserted.wait(10)
    b = notify(alice, title="B").pk
    b_committed.set()
    after_b = services.sync(alice, f"1.{base}")
    thread.join(10)
    assert a_ids[0] < b
    after_a = services.sync(alice, after_b.cursor)
    assert a_ids[0] in ids(after_a)


@pytest.mark.django_db
def test_unknown_or_purged_cursor_gets_a_full_resync(alice, bob) -> None:
    mine = notify(alice, title="mine").pk
    bobs = notify(bob, title="bob's").pk
    assert services.sync(alice, "1.999999").reset is True
    assert services.sync(alice, f"1.{bobs}").reset is True  # someone else's id reveals nothing
    assert ids(services.sync(alice, f"1.{bobs}")) == [mine]


@pytest.mark.parametrize("cursor", [42, "42", "2.42", "1.x", "1.-1", "1." + "9" * 30, ["1.1"], "1.2.3.4", "1."])
def test_malformed_cursor_is_refused(cursor) -> None:
    with pytest.raises(InvalidQuery, match="cursor"):
        services.parse_cursor(cursor)


@pytest.mark.django_db(transaction=True)
def test_sync_over_the_socket_then_live_with_no_gap(daphne: DaphneServer, alice) -> None:
    seen = notify(alice, title="seen")
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
    missed = [notify(alice, title=f"while away {i}").pk for i in range(3)]
    with open_socket(daphne, alice) as ws:
        assert receive_frame(ws, "hello")["unread_count"] == 4
        ws.send(json.dumps({"type": "sync", "cursor": f"1.{seen.pk}", "ref": "s"}))
        live = notify(alice, title="sent around the seam").pk
        sync = receive_frame(ws, "sync")
        shown = {n["id"] for n in sync["notifications"]}
        if live not in shown:
            # Committed after the sync's query: it must come live.
            shown.add(receive_frame(ws, "notification")["notification"]["id"])
    assert shown - {seen.pk} == {*missed, live}
    assert (sync["ref"], sync["more"], sync["reset"]) == ("s", False, False)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("frame", "code"),
    [({"type": "sync", "cursor": 5}, "bad_field"), ({"type": "sync", "cursor": "1.x"}, "bad_field")],
)
def test_bad_sync_requests_get_an_error_frame(daphne: DaphneServer, alice, frame, code) -> None:
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
        ws.send(json.dumps(frame))
        assert receive_frame(ws)["code"] == code


@pytest.mark.django_db
def test_an_empty_inbox_gets_a_cursor_that_catches_up_from_the_start(alice) -> None:
    empty = services.sync(alice, None)
    assert (empty.reset, empty.cursor, empty.notifications) == (True, "1.0", [])
    sent = [notify(alice, title=str(i)).pk for i in range(3)]
    later = services.sync(alice, empty.cursor)
    assert (later.reset, ids(later), later.cursor) == (False, sent, f"1.{sent[-1]}")
