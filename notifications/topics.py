"""Topics: other apps' live channels on the one notifications socket.

An app registers a topic with an authorization check; a page subscribes with
parameters (``{"type": "subscribe", "topic": "presence.room", "params":
{"room": "lobby"}}``); the server publishes to a topic and its parameters with
one call, from any process, after commit when inside a transaction::

    from notifications.topics import register_topic, publish

    register_topic("builds.log", authorize=lambda user, params: user.is_staff)
    publish("builds.log", {"build": 42}, {"line": "tests passed"})

An unauthorized or unknown subscription gets an ``error`` frame, never data.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from channels.db import database_sync_to_async

from notifications import group_names, protocol, realtime
from notifications.protocol import ClientMessage, ProtocolError


class TopicSubscriber(Protocol):
    """What a topic's hooks get: one connection, a socket (live.LiveConsumer) or an event stream (sse.EventStream)."""

    user: Any
    channel_name: str  # unique per connection (presence keys its tabs by it)
    subscriptions: dict[str, tuple[Topic, dict[str, Any]]]  # group -> (topic, params)

    async def send_frame(self, frame: dict[str, Any]) -> None: ...

    async def join_group(self, group: str) -> None: ...

    async def leave_group(self, group: str) -> None: ...


# Most topics one socket may follow at once, and the size of their parameters.
MAX_SUBSCRIPTIONS = 20
MAX_PARAMS_CHARS = 512

Hook = Callable[[TopicSubscriber, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Topic:
    """A registered topic. Hooks are coroutines called with (consumer, params):

    ``on_subscribe`` before the socket joins the topic's group (announce it: the
    subscriber does not hear its own announcement); ``welcome`` right after it
    joined (send it the current state: nothing later can be missed);
    ``on_unsubscribe`` after it left (also when the socket closes);
    ``on_heartbeat`` on each of its pings.
    """

    name: str
    authorize: Callable[[Any, dict[str, Any]], bool | Awaitable[bool]]
    on_subscribe: Hook | None = None
    welcome: Hook | None = None
    on_unsubscribe: Hook | None = None
    on_heartbeat: Hook | None = None


class TopicRegistry:
    """Topics by name; apps register theirs in ``AppConfig.ready()``."""

    def __init__(self) -> None:
        self._topics: dict[str, Topic] = {}

    def register(self, topic: Topic) -> None:
        if not topic.name or len(topic.name) > 64 or not all(c.isalnum() or c in "._-" for c in topic.name):
            raise ValueError(f"Topic names use letters, digits, '.', '_' and '-' (at most 64): {topic.name!r}")
        if topic.name in self._topics and self._topics[topic.name] != topic:
            raise ValueError(f"Topic {topic.name!r} is already registered")
        self._topics[topic.name] = topic

    def get(self, name: str) -> Topic | None:
        return self._topics.get(name)

    def names(self) -> list[str]:
        return sorted(self._topics)


registry = TopicRegistry()


def register_topic(
    name: str,
    *,
    authorize: Callable[[Any, dict[str, Any]], bool | Awaitable[bool]],
    on_subscribe: Hook | None = None,
    welcome: Hook | None = None,
    on_unsubscribe: Hook | None = None,
    on_heartbeat: Hook | None = None,
) -> Topic:
    """Register a topic (see Topic for hooks). ``authorize(user, params)``: sync (run in a thread) or async."""
    topic = Topic(name, authorize, on_subscribe, welcome, on_unsubscribe, on_heartbeat)
    registry.register(topic)
    return topic


def topic_frame(name: str, params: dict[str, Any], data: Any) -> dict[str, Any]:
    return {"type": "topic", "topic": name, "params": params, "data": data}


def publish(name: str, params: dict[str, Any], data: Any) -> None:
    """Send ``data`` to every subscriber of the topic with these params, after the transaction commits."""
    group = group_names.topic(name, params)
    frame = protocol.encode(topic_frame(name, params, data))
    realtime.publish([group], frame)


async def apublish(name: str, params: dict[str, Any], data: Any) -> bool:
    """``publish`` for async code (consumer hooks): sends at once."""
    return await realtime.apublish([group_names.topic(name, params)], protocol.encode(topic_frame(name, params, data)))


# --- used by the notifications consumer ------------------------------------------


async def subscribe(consumer: TopicSubscriber, message: ClientMessage) -> None:
    topic, params = _topic_and_params(message)
    group = group_names.topic(topic.name, params)
    if group not in consumer.subscriptions:
        if len(consumer.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise ProtocolError("too_many_subscriptions", f"At most {MAX_SUBSCRIPTIONS} topics.", ref=message.ref)
        if not await _authorized(topic, consumer.user, params):
            raise ProtocolError(
                "forbidden", f"Not allowed to follow {topic.name!r} with these params.", ref=message.ref
            )
        if topic.on_subscribe is not None:
            await topic.on_subscribe(consumer, params)
        consumer.subscriptions[group] = (topic, params)
        await consumer.join_group(group)
    await consumer.send_frame({"type": "subscribed", "topic": topic.name, "params": params, "ref": message.ref})
    if topic.welcome is not None:
        await topic.welcome(consumer, params)


async def unsubscribe(consumer: TopicSubscriber, message: ClientMessage) -> None:
    topic, params = _topic_and_params(message)
    group = group_names.topic(topic.name, params)
    if group in consumer.subscriptions:
        await _leave(consumer, group)
    await consumer.send_frame({"type": "unsubscribed", "topic": topic.name, "params": params, "ref": message.ref})


async def unsubscribe_all(consumer: TopicSubscriber) -> None:
    for group in list(consumer.subscriptions):
        await _leave(consumer, group)


async def heartbeat(consumer: TopicSubscriber) -> None:
    for topic, params in list(consumer.subscriptions.values()):
        if topic.on_heartbeat is not None:
            await topic.on_heartbeat(consumer, params)


async def _leave(consumer: TopicSubscriber, group: str) -> None:
    topic, params = consumer.subscriptions.pop(group)
    await consumer.leave_group(group)
    if topic.on_unsubscribe is not None:
        await topic.on_unsubscribe(consumer, params)


async def _authorized(topic: Topic, user: Any, params: dict[str, Any]) -> bool:
    if inspect.iscoroutinefunction(topic.authorize):
        return bool(await topic.authorize(user, params))
    return bool(await database_sync_to_async(topic.authorize)(user, params))


def _topic_and_params(message: ClientMessage) -> tuple[Topic, dict[str, Any]]:
    name = message.fields.get("topic")
    params = message.fields.get("params", {})
    if not isinstance(name, str):
        raise ProtocolError("bad_field", "'topic' must be a string.", ref=message.ref)
    topic = registry.get(name)
    if topic is None:
        raise ProtocolError("unknown_topic", f"No topic {name[:64]!r}.", ref=message.ref)
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, (str, int, bool))) for k, v in params.items()
    ):
        raise ProtocolError("bad_field", "'params' must be an object of strings, numbers or booleans.", ref=message.ref)
    if len(group_names.canonical_params(params)) > MAX_PARAMS_CHARS:
        raise ProtocolError("bad_field", f"'params' must be at most {MAX_PARAMS_CHARS} characters.", ref=message.ref)
    return topic, params
