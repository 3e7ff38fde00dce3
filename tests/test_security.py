"""Who gets in, and what open sockets do when accounts change: tokens, logout, deactivation, groups."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from django.core import signing
from django.test import Client
from websockets.exceptions import ConnectionClosed

from notifications import notify
from notifications.services import tokens
from notifications.testing import DaphneServer, open_socket, receive_frame, session_cookie
from tests.conftest import start_daphne

pytestmark = pytest.mark.django_db(transaction=True)


def closed_with(ws) -> int:
    try:
        while True:
            ws.recv(timeout=10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006
    raise AssertionError("unreachable")


def token_for(client: Client) -> str:
    response = client.post("/api/notifications/token/")
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
    assert alice_client.post("/api/notifications/token/revoke/").json() == {"revoked": True}
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
        alice_client.post("/api/notifications/token/revoke/")
        assert closed_with(by_token) == 4401
        by_session.send('{"type": "ping", "ref": "still"}')
        assert receive_frame(by_session, "pong")["ref"] == "still"


def test_token_endpoints_need_a_signed_in_session_and_post(client) -> None:
    assert client.post("/api/notifications/token/").status_code == 401
    assert client.get("/api/notifications/token/").status_code == 405


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
