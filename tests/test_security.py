"""Who gets in, and what open sockets do when accounts change: tokens, logout, deactivation, groups."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core import signing
from django.test import Client
from django.utils import timezone
from websockets.exceptions import ConnectionClosed

from notifications import notify
from notifications.services import tokens
from notifications.testing import DaphneServer, closed_with, open_socket, receive_frame, session_cookie
from tests.conftest import start_daphne

pytestmark = pytest.mark.django_db(transaction=True)


def token_for(client: Client) -> str:
    response = client.post("/notifications/api/token/")
    assert response.status_code == 200
    assert response.json()["expires_in"] == 300
    return response.json()["token"]


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.mark.parametrize("how", ["header", "query"])
def test_a_token_opens_the_socket_for_its_user(daphne: DaphneServer, alice, alice_client, how) -> None:
    token = token_for(alice_client)
    path = "/ws/notifications/" + (f"?token={token}" if how == "query" else "")
    headers = {"Authorization": f"Bearer {token}"} if how == "header" else {}
    with open_socket(daphne, path=path, headers=headers, origin=None) as ws:
        assert receive_frame(ws, "hello")["user"]["username"] == "alice"
        sent = notify(alice, title="to a script")
        assert receive_frame(ws, "notification")["notification"]["id"] == sent.pk


def test_expired_forged_and_revoked_tokens_close_with_4401(daphne: DaphneServer, alice, alice_client) -> None:
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 301):
        expired = tokens.issue_token(alice).token
    good = token_for(alice_client)
    forged = signing.dumps({"u": alice.pk, "i": time.time()}, salt="another-salt")
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    for token in (expired, forged, tampered, "not-a-token"):
        with open_socket(daphne, headers={"Authorization": f"Bearer {token}"}, origin=None) as ws:
            assert closed_with(ws) == 4401, token
    assert alice_client.post("/notifications/api/token/revoke/").json() == {"revoked": True}
    with open_socket(daphne, headers={"Authorization": f"Bearer {good}"}, origin=None) as ws:
        assert closed_with(ws) == 4401
    fresh = token_for(alice_client)
    with open_socket(daphne, headers={"Authorization": f"Bearer {fresh}"}, origin=None) as ws:
        assert receive_frame(ws, "hello")["user"]["username"] == "alice"


def test_revoking_closes_token_sockets_but_not_browser_sessions(daphne: DaphneServer, alice, alice_client) -> None:
    token = token_for(alice_client)
    bearer = {"Authorization": f"Bearer {token}"}
    with open_socket(daphne, headers=bearer, origin=None) as by_token, open_socket(daphne, alice) as by_session:
        receive_frame(by_token, "hello")
        receive_frame(by_session, "hello")
        alice_client.post("/notifications/api/token/revoke/")
        assert closed_with(by_token) == 4401
        by_session.send('{"type": "ping", "ref": "still"}')
        assert receive_frame(by_session, "pong")["ref"] == "still"


def test_token_endpoints_need_a_signed_in_session_and_post(client) -> None:
    assert client.post("/notifications/api/token/").status_code == 401
    assert client.get("/notifications/api/token/").status_code == 405


def test_logging_out_closes_that_sessions_sockets_only(daphne: DaphneServer, alice) -> None:
    leaving, staying = Client(), Client()
    leaving.force_login(alice)
    staying.force_login(alice)
    cookie = lambda c: {"Cookie": f"sessionid={c.cookies['sessionid'].value}"}  # noqa: E731
    with (
        open_socket(daphne, headers=cookie(leaving)) as ws_leaving,
        open_socket(daphne, headers=cookie(staying)) as ws_staying,
    ):
        receive_frame(ws_leaving, "hello")
        receive_frame(ws_staying, "hello")
        assert leaving.post("/accounts/logout/").status_code == 302
        assert closed_with(ws_leaving) == 4401
        sent = notify(alice, title="still here on the other device")
        assert receive_frame(ws_staying, "notification")["notification"]["id"] == sent.pk


def test_deactivated_users_are_disconnected_and_refused(daphne: DaphneServer, alice) -> None:
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
        alice.is_active = False
        alice.save()
        assert closed_with(ws) == 4401
    with open_socket(daphne, alice) as ws:
        assert closed_with(ws) == 4401


def session_of(client: Client) -> Session:
    return Session.objects.get(session_key=client.cookies["sessionid"].value)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def cookie_of(client: Client) -> dict[str, str]:
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


def test_a_password_change_closes_the_users_sockets_and_refuses_the_old_cookie(daphne: DaphneServer, alice) -> None:
    browser = signed_in(alice)
    with open_socket(daphne, headers=cookie_of(browser)) as ws:
        receive_frame(ws, "hello")
        alice.set_password("a new password")
        alice.save()
        assert closed_with(ws) == 4401
    with open_socket(daphne, headers=cookie_of(browser)) as ws:
        assert closed_with(ws) == 4401


@pytest.mark.parametrize("how", ["instance", "queryset"])
def test_deleting_the_session_row_closes_its_sockets(daphne: DaphneServer, alice, how) -> None:
    ended, other = signed_in(alice), signed_in(alice)
    with open_socket(daphne, headers=cookie_of(ended)) as ws, open_socket(daphne, headers=cookie_of(other)) as kept:
        receive_frame(ws, "hello")
        receive_frame(kept, "hello")
        if how == "instance":
            session_of(ended).delete()  # an admin ending that session
        else:
            Session.objects.filter(pk=session_of(ended).pk).delete()
        assert closed_with(ws) == 4401
        kept.send('{"type": "ping", "ref": "kept"}')
        assert receive_frame(kept, "pong")["ref"] == "kept"


@pytest.fixture(scope="module")
def rechecking_daphne(django_db_setup, redis_server) -> Iterator[DaphneServer]:
    """Daphne re-checking each socket's login on every heartbeat."""
    server = start_daphne(redis_server, notifications={"REVALIDATE_SECONDS": 0.001})
    yield server
    server.stop()


def pong_or_close(ws, ref: str) -> int | None:
    """Ping; None when the pong came, else the close code the server answered with."""
    try:
        ws.send(f'{{"type": "ping", "ref": "{ref}"}}')
        assert receive_frame(ws, "pong")["ref"] == ref
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006
    return None


@pytest.mark.parametrize("ending", ["deactivated by update()", "session expired", "token user deactivated"])
def test_logins_ended_without_a_signal_close_on_the_heartbeat_recheck(
    rechecking_daphne: DaphneServer, alice, alice_client, ending
) -> None:
    """QuerySet.update() sends no signal: the heartbeat re-check (REVALIDATE_SECONDS) finds the end."""
    if ending == "token user deactivated":
        connection = open_socket(
            rechecking_daphne, headers={"Authorization": f"Bearer {token_for(alice_client)}"}, origin=None
        )
    else:
        connection = open_socket(rechecking_daphne, headers=cookie_of(alice_client))
    with connection as ws:
        receive_frame(ws, "hello")
        assert pong_or_close(ws, "still signed in") is None  # a valid login passes the re-check
        if ending == "session expired":
            Session.objects.filter(pk=session_of(alice_client).pk).update(expire_date=timezone.now())
        else:
            User.objects.filter(pk=alice.pk).update(is_active=False)
        assert pong_or_close(ws, "after the change") == 4401


def test_leaving_a_group_stops_its_notifications_live(daphne: DaphneServer, alice, bob, staff) -> None:
    with open_socket(daphne, alice) as alice_ws, open_socket(daphne, bob) as bob_ws:
        receive_frame(alice_ws, "hello")
        receive_frame(bob_ws, "hello")
        alice.groups.remove(staff)
        # Everything sent to alice's own group after the change arrives after the socket regrouped.
        marker = notify(alice, title="marker")
        assert receive_frame(alice_ws, "notification")["notification"]["id"] == marker.pk
        notify(staff, title="staff only, now without alice")
        final = notify(alice, title="final")
        assert receive_frame(alice_ws, "notification")["notification"]["id"] == final.pk
        assert receive_frame(bob_ws, "notification")["notification"]["title"] == "staff only, now without alice"


def test_joining_a_group_starts_its_notifications_live(daphne: DaphneServer, carol, staff) -> None:
    with open_socket(daphne, carol) as ws:
        receive_frame(ws, "hello")
        staff.user_set.add(carol)
        marker = notify(carol, title="marker")
        assert receive_frame(ws, "notification")["notification"]["id"] == marker.pk
        sent = notify(staff, title="welcome to staff")
        assert receive_frame(ws, "notification")["notification"]["id"] == sent.pk


def test_per_user_connection_limit_holds_when_sockets_open_at_once(private_redis, alice, bob) -> None:
    # Connections arriving together share one Redis round trip for their count:
    # each must still get its own answer.
    server = start_daphne(private_redis, notifications={"MAX_CONNECTIONS_PER_USER": 3})
    # Sessions made here: the threads below only open sockets.
    cookies = [session_cookie(alice) for _ in range(8)] + [session_cookie(bob) for _ in range(2)]
    all_answered = threading.Barrier(len(cookies))

    def first_answer(cookie: str) -> object:
        with open_socket(server, headers={"Cookie": cookie}) as ws:
            try:
                answer = receive_frame(ws, "hello")["user"]["username"]
            except ConnectionClosed as closed:
                answer = closed.rcvd.code if closed.rcvd else 1006
            all_answered.wait(timeout=30)  # hold the open ones open until every socket has its answer
            return answer

    try:
        with ThreadPoolExecutor(len(cookies)) as pool:
            answers = list(pool.map(first_answer, cookies))
    finally:
        server.stop()
    assert sorted(map(str, answers)) == sorted(["alice"] * 3 + ["4409"] * 5 + ["bob"] * 2)


def test_per_user_connection_limit_holds_across_processes(private_redis, alice, bob) -> None:
    limited = {"MAX_CONNECTIONS_PER_USER": 2}
    server_a = start_daphne(private_redis, notifications=limited)
    server_b = start_daphne(private_redis, notifications=limited)
    try:
        with open_socket(server_a, alice) as first, open_socket(server_b, alice) as second:
            receive_frame(first, "hello")
            receive_frame(second, "hello")
            with open_socket(server_a, alice) as third:
                assert closed_with(third) == 4409
            with open_socket(server_a, bob) as other_user:
                assert receive_frame(other_user, "hello")["user"]["username"] == "bob"
        # Both closed: alice may connect again.
        with open_socket(server_b, alice) as again:
            assert receive_frame(again, "hello")["user"]["username"] == "alice"
    finally:
        server_a.stop()
        server_b.stop()
