"""Channels' group idiom inside a ``LiveConsumer``: ``self.channel_layer`` as a Channels developer writes it.

A socket has no channel-layer channel of its own: the process listens once and
fans out (fanout.py), and group names carry the site's namespace
(namespace.py). So the layer a ``LiveConsumer`` sees maps the idiom onto that:

- ``group_add(group, self.channel_name)`` is ``join_group(group)``, and
  ``group_discard(group, self.channel_name)`` is ``leave_group(group)``;
- ``group_send(group, event)`` reaches the handler of every socket in
  ``group`` (``{"type": "chat.message"}`` calls ``chat_message``), in every process;
- ``send(self.channel_name, event)`` runs this socket's own handler.

What cannot work is refused with ``NotASocketChannel`` naming the way that does:
adding another socket's name to a group, or sending to another socket's name
(nothing listens on it). Anything else goes to the real layer unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from notifications import realtime
from notifications.connections import SOCKET_PREFIX

if TYPE_CHECKING:
    from notifications.live import LiveConsumer


class NotASocketChannel(ValueError):
    """A channel-layer call that names another socket's channel_name, on which nothing listens."""


class ConsumerLayer:
    """``self.channel_layer`` of one ``LiveConsumer``."""

    def __init__(self, consumer: LiveConsumer, layer: Any) -> None:
        self._consumer = consumer
        self._layer = layer

    async def group_add(self, group: str, channel: str) -> None:
        if self._is_mine(channel, "group_add"):
            await self._consumer.join_group(group)
        else:
            await self._layer.group_add(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        if self._is_mine(channel, "group_discard"):
            await self._consumer.leave_group(group)
        else:
            await self._layer.group_discard(group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        if not await realtime.apublish_event([group], message):
            raise ConnectionError(f"The channel layer did not take the event for {group!r} (see the log).")

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        if self._is_mine(channel, "send"):
            await self._consumer.dispatch(message)
        else:
            await self._layer.send(channel, message)

    def _is_mine(self, channel: str, call: str) -> bool:
        if channel == self._consumer.channel_name:
            return True
        if channel.startswith(SOCKET_PREFIX):
            raise NotASocketChannel(
                f"channel_layer.{call}() named another socket's channel_name ({channel!r}): sockets of a "
                "LiveConsumer have no channel of their own, so nothing would receive it. Have that socket "
                "join a group of its own (self.join_group(...)) and send to the group instead."
            )
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._layer, name)
