"""The notifications stream over Server-Sent Events: the socket's frames, guarantees and limits, over plain HTTP."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.contrib.sessions.models import Session
from django.test import Client, override_settings

from notifications import notify, realtime, services
from notifications.testing import (
    RedisServer,
    open_event_stream,
    open_socket,
    receive_frame,
    session_cookie,
    wait_until,
)
from tests.conftest import start_daphne

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stack(private_redis: RedisServer):
    server = start_daphne(private_redis, notifications={"MAX_CONNECTIONS_PER_USER": 2, "SSE_HEARTBEAT": 1})
    with override_settings(CHANNEL_LAYERS=private_redis.channel_layers()):
        yield server
    server.stop()


def send(user, title: str) -> int:
    sent = notify(user, title=title)
    assert realtime.flush(timeout=10)
    return sent.pk


def test_live_frames_then_a_resume_from_last_event_id_brings_exactly_what_was_missed(stack, alice) -> None:
    with open_event_stream(stack, alice) as stream:
        hello = stream.next_event()["data"]
        assert (hello["type"], hello["user"]["id"], hello["unread_count"]) == ("hello", alice.pk, 0)
        first = send(alice, "live over SSE")
        event = stream.next_event("notification")
        assert event["data"]["notification"]["title"] == "live over SSE"
        assert event["id"] == f"1.{first}"  # what EventSource sends back as Last-Event-ID
        # An idle stream carries keep-alive comments (SSE_HEARTBEAT=1 here) and stays open.
        second_read = send(alice, "a second one")
        assert stream.next_event("notification", timeout=15)["id"] == f"1.{second_read}"

    missed = [send(alice, "while away 1"), send(alice, "while away 2")]
    with open_event_stream(stack, alice, headers={"Last-Event-ID": f"1.{second_read}"}) as stream:
        assert stream.next_event()["data"]["type"] == "hello"
        synced = stream.next_event()["data"]
        assert synced["type"] == "sync"
        # What was missed, and (as on the socket) the last minute's rows again for commits that
        # landed out of id order: the client shows each id once.
        assert set(missed) <= {item["id"] for item in synced["notifications"]}
        assert synced["cursor"] == f"1.{missed[-1]}"
        assert synced["more"] is False
        later = send(alice, "live again")
        assert stream.next_event("notification")["id"] == f"1.{later}"  # nothing doubled before it


def test_refusals_are_json_with_the_socket_rules(stack, alice, bob) -> None:
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{stack.origin}/notifications/stream/", timeout=10)
    assert anonymous.value.code == 401
    assert anonymous.value.read() == b'{"error": "Not signed in."}\n'
    anonymous.value.close()  # an HTTPError holds its response's socket open

    with (
        pytest.raises(urllib.error.HTTPError) as foreign,
        open_event_stream(stack, alice, headers={"Origin": "https://evil.example"}),
    ):
        pass
    assert foreign.value.code == 403
    foreign.value.close()

    # The per-user limit counts sockets and streams together (2 here).
    with open_socket(stack, bob) as ws, open_event_stream(stack, bob) as stream:
        receive_frame(ws, "hello")
        stream.next_event("hello")
        with pytest.raises(urllib.error.HTTPError) as third, open_event_stream(stack, bob):
            pass
        assert third.value.code == 429
        assert third.value.headers["Retry-After"] == "5"
        third.value.close()

    def two_streams_open() -> bool:
        """A closed stream leaves the count (as a closed socket does), so two fit again."""
        try:
            with open_event_stream(stack, bob), open_event_stream(stack, bob):
                return True
        except urllib.error.HTTPError as refused:
            refused.close()
            if refused.code != 429:
                raise
            return False

    wait_until(two_streams_open, timeout=15, what="the closed connections leaving bob's count")


def test_a_deactivated_user_s_stream_ends_with_the_socket_s_close_code(stack, alice) -> None:
    with open_event_stream(stack, alice) as stream:
        stream.next_event("hello")
        assert stream.next_event()["data"]["reset"] is True  # the current inbox, as a page's first sync
        alice.is_active = False
        alice.save()
        assert realtime.flush(timeout=10)
        closed = stream.next_event()
        assert closed["event"] == "close"
        assert closed["data"] == {"code": 4401, "reason": "deactivated"}


def test_signing_out_ends_the_stream_of_that_session(stack, alice) -> None:
    with open_event_stream(stack, alice) as stream:
        stream.next_event("hello")
        stream.next_event("sync")
        Session.objects.all().delete()  # signed out (or the session expired and was cleared)
        assert realtime.flush(timeout=10)
        closed = stream.next_event()
        assert (closed["event"], closed["data"]["code"]) == ("close", 4401)


def test_a_redis_restart_asks_the_stream_to_resync_and_it_stays_live(stack, private_redis, alice) -> None:
    with open_event_stream(stack, alice) as stream:
        stream.next_event("hello")
        stream.next_event("sync")
        private_redis.stop()
        notify(alice, title="Sent while Redis was down")  # stored; its push fails
        assert realtime.flush(timeout=30)
        private_redis.resume()
        # The stream's fan-out rejoins its groups and tells it what may be lost: the page syncs.
        assert stream.next_event("resync", timeout=30)["data"]["reason"] == "channel_layer_recovered"
        after = send(alice, "Sent after Redis came back")
        assert stream.next_event("notification", timeout=15)["id"] == f"1.{after}"


def test_daphne_killed_the_stream_resumes_from_its_last_event_id_with_what_was_sent_meanwhile(stack, alice) -> None:
    with open_event_stream(stack, alice) as stream:
        stream.next_event("sync")
        before = send(alice, "before the crash")
        last_event_id = stream.next_event("notification")["id"]
        stack.stop(kill=True)
        meanwhile = [send(alice, f"while down {i}") for i in range(3)]
        # The cut stream ends (as EventSource sees it: an error, then it reconnects).
        with pytest.raises((OSError, http.client.HTTPException)) as cut:
            stream.next_event("notification", timeout=10)
        assert not isinstance(cut.value, TimeoutError), "the stream stayed open after its server died"
    stack.resume()
    with open_event_stream(stack, alice, headers={"Last-Event-ID": last_event_id}) as stream:
        synced = stream.next_event("sync")["data"]
        assert set(meanwhile) <= {item["id"] for item in synced["notifications"]} <= {before, *meanwhile}
        assert (synced["cursor"], synced["more"]) == (f"1.{meanwhile[-1]}", False)
        after = send(alice, "after the restart")
        assert stream.next_event("notification")["id"] == f"1.{after}"


def test_a_stream_on_one_process_gets_what_another_process_sends(stack, private_redis, alice) -> None:
    other = start_daphne(private_redis)
    try:
        with open_event_stream(stack, alice) as stream:
            stream.next_event("sync")
            command = other.manage("notify", "--user", "alice", "--title", "from the other process")
            assert command.returncode == 0, command.stderr
            assert stream.next_event("notification", timeout=15)["data"]["notification"]["title"] == (
                "from the other process"
            )
            # And a stream on the other process gets what this one's users do.
            with open_event_stream(other, alice) as second:
                second.next_event("sync")
                both = send(alice, "to both processes")
                assert stream.next_event("notification")["id"] == second.next_event("notification")["id"] == f"1.{both}"
    finally:
        other.stop()


def test_topics_over_the_stream_subscribe_by_post_and_leave_when_it_ends(stack, alice, bob) -> None:
    page = Client()
    page.force_login(alice)
    lobby = {"room": "lobby"}
    with open_socket(stack, bob) as watcher:
        receive_frame(watcher, "hello")
        watcher.send(json.dumps({"type": "subscribe", "topic": "presence.room", "params": lobby}))
        receive_frame(watcher, "subscribed")
        assert receive_frame(watcher, "topic")["data"]["event"] == "snapshot"
        with open_event_stream(stack, alice) as stream:
            key = stream.next_event("hello")["data"]["stream"]
            frame = {"type": "subscribe", "topic": "presence.room", "params": lobby, "ref": "s1"}
            answer = page.post("/notifications/stream/send/", {"stream": key, "frame": frame}, "application/json")
            assert answer.status_code == 202, answer.content
            assert stream.next_event("subscribed")["data"]["ref"] == "s1"
            # The room's state (its own "join" may come first: the announcement races the subscription).
            snapshot = stream.next_event("topic")["data"]["data"]
            if snapshot["event"] == "join":
                snapshot = stream.next_event("topic")["data"]["data"]
            assert snapshot["event"] == "snapshot"
            assert {user["username"] for user in snapshot["users"]} == {"alice", "bob"}
            assert receive_frame(watcher, "topic")["data"] == {
                "event": "join",
                "user": {"id": alice.pk, "username": "alice"},
            }
            # A room the user may not enter (no such name): an error on the stream, with the frame's ref.
            not_a_room = {"type": "subscribe", "topic": "presence.room", "params": {"room": "Not a room!"}, "ref": "s2"}
            answer = page.post("/notifications/stream/send/", {"stream": key, "frame": not_a_room}, "application/json")
            assert answer.status_code == 202
            refused = stream.next_event("error")["data"]
            assert (refused["code"], refused["ref"]) == ("forbidden", "s2")
        # The stream ended: its person leaves the room, as when a socket closes.
        left = receive_frame(watcher, "topic", timeout=15)["data"]
        assert (left["event"], left["user"]["username"]) == ("leave", "alice")


def test_page_frames_for_a_stream_are_checked(stack, alice) -> None:
    page = Client()
    page.force_login(alice)
    url = "/notifications/stream/send/"
    subscribe = {"type": "subscribe", "topic": "presence.room", "params": {"room": "lobby"}}
    for body, field in (
        ({"stream": "../x", "frame": subscribe}, "'stream'"),
        ({"stream": "abc", "frame": {"type": "mark_all_read"}}, "'frame'"),
        ({"stream": "abc", "frame": {**subscribe, "params": {"room": "x" * 5000}}}, "'frame'"),
    ):
        answer = page.post(url, body, "application/json")
        assert answer.status_code == 400, answer.content
        assert field in answer.json()["error"]
    assert Client().post(url, {"stream": "abc", "frame": subscribe}, "application/json").status_code == 401


def poll(server, user, cursor: str | None = None) -> list[dict]:
    request = urllib.request.Request(
        f"{server.origin}/notifications/poll/" + (f"?cursor={cursor}" if cursor else ""),
        headers={"Cookie": session_cookie(user)},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["frames"]


def test_long_polling_answers_at_once_when_behind_and_promptly_with_what_arrives_while_waiting(stack, alice) -> None:
    first = send(alice, "before the first poll")
    hello, synced = poll(stack, alice)
    assert (hello["type"], synced["type"], synced["reset"]) == ("hello", "sync", True)
    assert [item["id"] for item in synced["notifications"]] == [first]

    # Caught up: the request waits (up to LONG_POLL_SECONDS, 25 s) and answers once something arrives.
    answer: list[dict] = []
    started = time.monotonic()
    waiting = threading.Thread(target=lambda: answer.extend(poll(stack, alice, synced["cursor"])))
    waiting.start()
    wait_until(lambda: services.is_connected(alice), timeout=10, what="the poll to be open")
    later = send(alice, "while the poll waited")
    waiting.join(30)
    assert time.monotonic() - started < 15, "the poll waited out its time instead of answering"
    assert [frame["type"] for frame in answer][:2] == ["hello", "sync"]
    # Live, or in the opening sync if it was sent before that ran, or both around that moment
    # (the client shows each id once, as on the socket): never missing.
    arrived = [item["id"] for item in answer[1]["notifications"] if item["id"] != first]
    arrived += [frame["notification"]["id"] for frame in answer[2:] if frame["type"] == "notification"]
    assert set(arrived) == {later}
