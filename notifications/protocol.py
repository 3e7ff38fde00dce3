"""The wire protocol (version 1): frame shapes, parsing of client frames, close codes.

Every frame is a JSON object with a ``"type"``. ``docs/protocol.md`` has an
example of each. The notification payload built here is the one both the
socket and the HTTP API send.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypedDict

PROTOCOL_VERSION = 1


class CloseCode(IntEnum):
    """WebSocket close codes and what the client should do about them."""

    GOING_AWAY = 1001  # server restarting: reconnect (sent by shutdown.py)
    MESSAGE_TOO_BIG = 1009  # sent by Daphne over --websocket-max-message-size
    SERVER_ERROR = 1011  # reconnect with backoff
    # Daphne (autobahn) lets an application send only 1000 and 3000-4999, so the
    # app's own "too big" and "try again later" are 4009 and 4013.
    FRAME_TOO_BIG = 4009  # over NOTIFICATIONS["MAX_FRAME_BYTES"]
    TOO_FAR_BEHIND = 4013  # the socket stopped reading: reconnect and sync
    TOO_MANY_CONNECTIONS = 4409  # the user has too many sockets open: retry late
    UNAVAILABLE = 4503  # the database did not answer: reconnect with backoff
    NOT_AUTHENTICATED = 4401  # stop reconnecting, send the person to log in
    FORBIDDEN = 4403  # stop reconnecting
    RATE_LIMITED = 4429  # reconnect later


class ActorPayload(TypedDict):
    id: int
    name: str


class TargetPayload(TypedDict):
    type: str
    id: str
    name: str


class NotificationPayload(TypedDict):
    """One notification as one recipient sees it, in plain JSON types."""

    id: int
    title: str
    body: str
    level: str
    url: str
    kind: str
    data: dict[str, Any]
    created_at: str
    read: bool
    actor: ActorPayload | None
    target: TargetPayload | None


def encode(frame: dict[str, Any]) -> str:
    """Serialize a server frame, compact. Non-ASCII is escaped, so even a lone surrogate a
    client sent (echoed in ``ref``) cannot make the frame unencodable."""
    return json.dumps(frame, separators=(",", ":"))


def hello_frame(*, user_id: int, username: str, unread_count: int, stream: str | None = None) -> str:
    """The first frame; on an event stream, ``stream`` is the key its page's HTTP requests name."""
    frame: dict[str, Any] = {
        "type": "hello",
        "v": PROTOCOL_VERSION,
        "user": {"id": user_id, "username": username},
        "unread_count": unread_count,
    }
    if stream is not None:
        frame["stream"] = stream
    return encode(frame)


def notification_frame(payload: NotificationPayload) -> str:
    return encode({"type": "notification", "notification": dict(payload)})


def read_state_frame(*, change: str, ids: list[int], up_to: int | None, unread_count: int) -> str:
    """Read state changed in one of the user's pages: every other page follows."""
    return encode({"type": "read_state", "change": change, "ids": ids, "up_to": up_to, "unread_count": unread_count})


def ack_frame(ref: Any, **fields: Any) -> str:
    """The answer to a client request that changed (or tried to change) something."""
    return encode({"type": "ack", "ref": ref, **fields})


def sync_frame(
    ref: Any,
    *,
    notifications: list[NotificationPayload],
    cursor: str | None,
    more: bool,
    reset: bool,
    unread_count: int,
) -> str:
    return encode(
        {
            "type": "sync",
            "ref": ref,
            "notifications": [dict(n) for n in notifications],
            "cursor": cursor,
            "more": more,
            "reset": reset,
            "unread_count": unread_count,
        }
    )


def sync_answer(ref: Any, result: Any) -> str:
    """The ``sync`` frame for a ``services.sync()`` result (socket, event stream and JSON API alike)."""
    return sync_frame(
        ref,
        notifications=result.notifications,
        cursor=result.cursor,
        more=result.more,
        reset=result.reset,
        unread_count=result.unread_count,
    )


# RFC 6455, section 1.3: the server proves it read the key by hashing it with this GUID.
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HANDSHAKE_HEADERS = ("host", "origin", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version")


def websocket_accept(key: str) -> str:
    """The Sec-WebSocket-Accept answer to a Sec-WebSocket-Key: base64(SHA-1(key + GUID))."""
    return base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()).decode("ascii")


def handshake_frame(ref: Any, headers: dict[str, str]) -> str:
    """The opening handshake as the server saw it (no cookies), and how it answered."""
    request = {name: headers.get(name, "") for name in HANDSHAKE_HEADERS}
    return encode(
        {
            "type": "handshake",
            "ref": ref,
            "request": request,
            "response": {
                "status": 101,
                "upgrade": "websocket",
                "connection": "Upgrade",
                "sec-websocket-accept": websocket_accept(request["sec-websocket-key"]),
            },
            "guid": WEBSOCKET_GUID,
        }
    )


def retracted_frame(ids: list[int]) -> str:
    """Notifications deleted for everyone (by an administrator): pages drop them and re-count."""
    return encode({"type": "retracted", "ids": ids})


def resync_frame(reason: str) -> str:
    """Live events may have been lost (e.g. the channel layer was down): the page should sync."""
    return encode({"type": "resync", "reason": reason})


def error_frame(code: str, message: str, *, ref: Any = None) -> str:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    return encode(frame)


class ProtocolError(Exception):
    """Raised when a client frame is unusable; becomes an ``error`` frame, the socket stays open."""

    def __init__(self, code: str, message: str, *, ref: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref

    def frame(self) -> str:
        return error_frame(self.code, self.message, ref=self.ref)


@dataclass(frozen=True)
class ClientMessage:
    """A parsed client frame: its type, its optional ``ref`` echo value, and its fields."""

    type: str
    ref: Any
    fields: dict[str, Any]


def ids_field(message: ClientMessage) -> list[Any]:
    """The ids a request names, from ``"ids": [...]`` or ``"id": n`` (validated by services)."""
    if "ids" in message.fields:
        ids = message.fields["ids"]
        if not isinstance(ids, list) or not ids:
            raise ProtocolError("bad_field", "'ids' must be a non-empty list of notification ids.", ref=message.ref)
        return ids
    if "id" in message.fields:
        return [message.fields["id"]]
    raise ProtocolError("bad_field", f"'{message.type}' needs 'id' or 'ids'.", ref=message.ref)


def _refuse_non_json_constant(name: str) -> Any:
    """Python's json accepts NaN and Infinity; JSON (and browsers) do not."""
    raise ValueError(f"{name} is not JSON")


def _valid_ref(value: Any) -> bool:
    return value is None or (
        isinstance(value, (str, int, float)) and not isinstance(value, bool) and len(str(value)) <= 64
    )


def parse_client_frame(text: str | None, binary: bytes | None) -> ClientMessage:
    """Turn a raw frame into a ClientMessage, or raise ProtocolError saying what is wrong."""
    if binary is not None:
        raise ProtocolError("binary_not_supported", "Binary frames are not supported; send JSON text.")
    if not text:
        raise ProtocolError("empty_frame", "Empty frame; send a JSON object with a 'type'.")
    try:
        data = json.loads(text, parse_constant=_refuse_non_json_constant)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_json", "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_frame", "A frame must be a JSON object with a 'type'.")
    ref = data.pop("ref", None)
    if not _valid_ref(ref):
        raise ProtocolError("bad_field", "'ref' must be a string or number of at most 64 characters.")
    kind = data.pop("type", None)
    if not isinstance(kind, str) or not kind:
        raise ProtocolError("bad_frame", "A frame must have a string 'type'.", ref=ref)
    return ClientMessage(type=kind, ref=ref, fields=data)
