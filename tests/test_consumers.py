"""The notifications socket through a real Daphne process: handshake, auth, protocol errors."""

from __future__ import annotations

import contextlib
import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from notifications import notify, protocol
from notifications.testing import DaphneServer, open_socket, receive_frame

pytestmark = pytest.mark.django_db(transaction=True)


def test_anonymous_socket_is_closed_with_4401(daphne: DaphneServer) -> None:
    with open_socket(daphne) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


def test_foreign_origin_is_refused_even_with_a_valid_session(daphne: DaphneServer, alice) -> None:
    with pytest.raises(InvalidStatus) as refused, open_socket(daphne, alice, origin="https://evil.example"):
        pass
    assert refused.value.response.status_code == 403


def test_the_pages_own_origin_connects(daphne: DaphneServer, alice) -> None:
    with open_socket(daphne, alice, origin="same") as ws:
        assert receive_frame(ws, "hello")["user"]["username"] == "alice"


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:1",  # another app on the same host: cookies are not port-bound
        "https://127.0.0.1:{port}",  # another scheme
        "http://127.0.0.1",  # no port
        None,  # a session cookie without an Origin is not a browser page
    ],
)
def test_other_origins_of_the_same_host_are_refused(daphne: DaphneServer, alice, origin) -> None:
    origin = origin.format(port=daphne.port) if origin else None
    with pytest.raises(InvalidStatus) as refused, open_socket(daphne, alice, origin=origin):
        pass
    assert refused.value.response.status_code == 403


def test_ping_is_answered_with_pong_echoing_ref(daphne: DaphneServer, alice) -> None:
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
        ws.send('{"type": "ping", "ref": 17}')
        assert receive_frame(ws) == {"type": "pong", "ref": 17, "latest_cursor": None, "unread_count": 0}
        sent = notify(alice, title="x")
        receive_frame(ws, "notification")
        ws.send('{"type": "ping", "ref": "b"}')
        assert receive_frame(ws, "pong") == {
            "type": "pong",
            "ref": "b",
            "latest_cursor": f"1.{sent.pk}",
            "unread_count": 1,
        }


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2, 3]", "bad_frame"),
        ('"just a string"', "bad_frame"),
        ('{"no": "type"}', "bad_frame"),
        ('{"type": 42}', "bad_frame"),
        ('{"type": "launch_missiles"}', "unknown_type"),
        ('{"type": "__class__"}', "unknown_type"),
        ('{"type": "ping", "ref": {"nested": true}}', "bad_field"),
        (b"\x00\x01binary", "binary_not_supported"),
    ],
)
def test_bad_input_gets_an_error_frame_and_the_socket_keeps_working(daphne: DaphneServer, alice, frame, code) -> None:
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
        ws.send(frame)
        error = receive_frame(ws)
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["message"]
        # Still open, still delivering.
        ws.send('{"type": "ping", "ref": "after"}')
        assert receive_frame(ws)["ref"] == "after"
        sent = notify(alice, title="Still here")
        assert receive_frame(ws, "notification")["notification"]["id"] == sent.pk


def test_error_frame_echoes_ref_of_a_bad_request(daphne: DaphneServer, alice) -> None:
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
        ws.send('{"type": "nope", "ref": "r1"}')
        assert receive_frame(ws, "error")["ref"] == "r1"


def test_inactive_user_is_treated_as_signed_out(daphne: DaphneServer, alice) -> None:
    alice.is_active = False
    alice.save()
    with open_socket(daphne, alice) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd.code == 4401


def test_handshake_frame_shows_the_request_and_the_computed_accept(daphne: DaphneServer, alice) -> None:
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
        ws.send('{"type": "handshake", "ref": "h"}')
        frame = receive_frame(ws, "handshake")
    request = frame["request"]
    assert request["upgrade"].lower() == "websocket"
    assert request["sec-websocket-version"] == "13"
    assert request["origin"] == daphne.origin
    assert "cookie" not in request
    # What the server answered is exactly what the client checked during the handshake.
    assert frame["response"]["sec-websocket-accept"] == ws.response.headers["Sec-WebSocket-Accept"]
    assert protocol.websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455's example


def read_until_closed(ws) -> tuple[list[dict], int]:
    """Every frame until the server closes; (frames, close code)."""
    frames = []
    try:
        while True:
            frames.append(json.loads(ws.recv(timeout=5)))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code
    raise AssertionError("unreachable")


def close_code(ws) -> int:
    return read_until_closed(ws)[1]


@pytest.mark.parametrize("size", [4097, 60_000])
def test_frames_over_the_limit_close_the_socket_with_4009(daphne: DaphneServer, alice, size) -> None:
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
        ws.send('{"type": "ping", "pad": "' + "x" * size + '"}')
        assert close_code(ws) == 4009


def test_huge_frames_are_refused_by_daphne_before_buffering_and_it_keeps_serving(daphne: DaphneServer, alice) -> None:
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
        with contextlib.suppress(ConnectionClosed, OSError):
            ws.send('{"type": "ping", "pad": "' + "x" * 2_000_000 + '"}')
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    # 1009 when the close frame makes it through; otherwise the connection was dropped.
    assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
    with open_socket(daphne, alice) as ws:
        assert receive_frame(ws, "hello")["user"]["username"] == "alice"


def test_a_flood_gets_an_error_frame_then_4429(daphne: DaphneServer, alice) -> None:
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
        for i in range(400):  # far past the burst, faster than any refill
            ws.send(json.dumps({"type": "ping", "ref": i}))
        frames, code = read_until_closed(ws)
    assert code == 4429
    errors = [f for f in frames if f["type"] == "error"]
    assert [e["code"] for e in errors] == ["rate_limited"]
    assert 25 <= sum(f["type"] == "pong" for f in frames) < 400  # the burst of 30 and the refill, not the flood


def test_binary_and_unusual_unicode_keep_the_socket_working(daphne: DaphneServer, alice) -> None:
    with open_socket(daphne, alice) as ws:
        receive_frame(ws, "hello")
        ws.send('{"type": "ping", "ref": "\\ud800 lone surrogate"}')
        assert receive_frame(ws)["ref"] == "\ud800 lone surrogate"
        ws.send('{"type": "ping", "ref": "\\udfff\\ud800"}')  # lone surrogates, JSON-escaped
        assert receive_frame(ws)["type"] == "pong"
        ws.send('{"type": "\u202eenilno", "ref": "rtl"}')
        assert receive_frame(ws)["code"] == "unknown_type"
        ws.send('{"type": "ping", "ref": "ok"}')
        assert receive_frame(ws)["ref"] == "ok"
