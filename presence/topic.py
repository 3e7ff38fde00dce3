"""The ``presence.room`` topic: subscribe with ``{"room": "lobby"}`` to be present and see who else is.

Events to the room's subscribers (``data`` of ``topic`` frames):
``{"event": "snapshot", "users": [...]}`` (to a new subscriber only),
``{"event": "join", "user": {...}}`` and ``{"event": "leave", "user": {...}}``
(once per person, not per tab).
"""

from __future__ import annotations

import re
from typing import Any

from notifications.topics import TopicSubscriber, apublish, register_topic, topic_frame
from presence import store

TOPIC = "presence.room"
ROOM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
# Rooms with this prefix are for staff only (an example of an authorization rule).
STAFF_PREFIX = "staff-"


def can_join(user: Any, params: dict[str, Any]) -> bool:
    """Any signed-in user may be in a room; "staff-" rooms need staff status or the staff group."""
    room = params.get("room")
    if not isinstance(room, str) or not ROOM.match(room) or set(params) != {"room"}:
        return False
    if room.startswith(STAFF_PREFIX):
        return bool(user.is_staff or user.groups.filter(name="staff").exists())
    return True


def _person(consumer: TopicSubscriber) -> store.Person:
    return store.Person(consumer.user.pk, consumer.user.get_username())


async def on_subscribe(consumer: TopicSubscriber, params: dict[str, Any]) -> None:
    """Enter the room; announce the person if this is their first tab there."""
    person = _person(consumer)
    if await store.join(params["room"], person, consumer.channel_name):
        await apublish(TOPIC, params, {"event": "join", "user": person.as_json()})


async def welcome(consumer: TopicSubscriber, params: dict[str, Any]) -> None:
    """Who is here, read after the socket joined the room's group: later changes come as events."""
    users = [p.as_json() for p in await store.people(params["room"])]
    await consumer.send_frame(topic_frame(TOPIC, params, {"event": "snapshot", "users": users}))


async def on_unsubscribe(consumer: TopicSubscriber, params: dict[str, Any]) -> None:
    person = _person(consumer)
    if await store.leave(params["room"], person, consumer.channel_name):
        await apublish(TOPIC, params, {"event": "leave", "user": person.as_json()})


async def on_heartbeat(consumer: TopicSubscriber, params: dict[str, Any]) -> None:
    """Stay present, and announce people whose tabs stopped heartbeating (their process died)."""
    for gone in await store.refresh(params["room"], _person(consumer), consumer.channel_name):
        await apublish(TOPIC, params, {"event": "leave", "user": gone.as_json(), "reason": "expired"})


register_topic(
    TOPIC,
    authorize=can_join,
    on_subscribe=on_subscribe,
    welcome=welcome,
    on_unsubscribe=on_unsubscribe,
    on_heartbeat=on_heartbeat,
)
