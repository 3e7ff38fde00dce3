"""The process's one subscription (notifications/fanout.py), against a real Redis.

The sockets here are stand-ins that record what the fan-out hands them; the
layer, the groups and the messages are real. The end-to-end paths (Daphne,
browsers) are in test_delivery.py, test_extending.py and test_browser.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.test import override_settings

from notifications import realtime
from notifications.fanout import LocalFanout
from notifications.group_names import layer_group
from notifications.testing import RedisServer


class Socket:
    """A Subscriber (notifications/subscriber.py) that records what the fan-out gives it."""

    def __init__(self) -> None:
        self.received: list[Any] = []

    async def deliver_frame(self, frame: str) -> None:
        self.received.append(frame)

    async def deliver_event(self, event: dict[str, Any]) -> None:
        self.received.append(event)

    async def on_layer_recovered(self) -> None:
        self.received.append("recovered")

    async def release(self) -> None:
        pass


class SlowLeaves:
    """The real layer, with each leave's round trip held back: a leave slower than the join after it."""

    def __init__(self, layer: RedisChannelLayer) -> None:
        self.layer = layer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.layer, name)

    async def group_discard(self, group: str, channel: str) -> None:
        await asyncio.sleep(0.3)
        await self.layer.group_discard(group, channel)


async def eventually(condition: Any, what: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.02)


async def frame_to(layer: Any, group: str, text: str) -> None:
    await layer.group_send(layer_group(group), {"type": realtime.FRAME_EVENT, "frame": text, "group": group})


def run_with_hub(redis: RedisServer, scenario: Any, *, wrap: Any = None) -> None:
    """Run ``scenario(hub)`` with a fan-out on the project's configured layer, pointed at ``redis``."""

    async def main() -> None:
        layer = get_channel_layer()
        hub = LocalFanout(wrap(layer) if wrap else layer)
        try:
            await scenario(hub)
        finally:
            if hub._task is not None:
                hub._task.cancel()
            await layer.close_pools()

    with override_settings(CHANNEL_LAYERS=redis.channel_layers()):
        asyncio.run(main())


def test_a_page_reload_leaving_and_joining_at_once_keeps_the_user_reachable(private_redis) -> None:
    # The old socket's leave goes out first but lands last without ordering:
    # the process would be out of the user's group while the new socket waits in it.
    async def scenario(hub: LocalFanout) -> None:
        old, new = Socket(), Socket()
        await hub.add("user.1", old)
        await asyncio.gather(hub.remove("user.1", old), hub.add("user.1", new))
        await frame_to(hub.layer, "user.1", "after the reload")
        await eventually(lambda: new.received == ["after the reload"], "the new socket got the frame")

    run_with_hub(private_redis, scenario, wrap=SlowLeaves)


def test_one_message_per_group_reaches_every_local_socket_of_it_once(private_redis) -> None:
    async def scenario(hub: LocalFanout) -> None:
        sockets = [Socket() for _ in range(3)]
        for socket in sockets:
            await hub.add("everyone", socket)
        await hub.add("user.7", sockets[0])
        await frame_to(hub.layer, "everyone", "all")
        await frame_to(hub.layer, "user.7", "just one")
        await eventually(lambda: sockets[0].received == ["all", "just one"], "both frames at the first socket")
        assert [socket.received for socket in sockets[1:]] == [["all"], ["all"]]

    run_with_hub(private_redis, scenario)


def test_a_plain_group_send_is_reported_not_silently_dropped(private_redis, caplog) -> None:
    async def scenario(hub: LocalFanout) -> None:
        socket = Socket()
        await hub.add("chat.lobby", socket)
        with caplog.at_level(logging.WARNING, logger="notifications.fanout"):
            # The layer group that carries "chat.lobby" for this site, without the event naming its group.
            await hub.layer.group_send(layer_group("chat.lobby"), {"type": "chat.typing"})
            await eventually(lambda: "plain group_send" in caplog.text, "a warning about the plain group_send")
        assert "'chat.typing'" in caplog.text
        assert "apublish_event" in caplog.text
        await realtime.apublish_event(["chat.lobby"], {"type": "chat.typing"})
        await eventually(lambda: socket.received, "the event sent the supported way")
        assert socket.received == [{"type": "chat.typing", "group": "chat.lobby"}]

    run_with_hub(private_redis, scenario)


def test_a_gap_in_a_senders_numbering_tells_the_groups_sockets_to_resync() -> None:
    """Only a skip is a loss: a first message, a restarted numbering and a late arrival are not."""
    resynced: list[str] = []

    class Recovering(Socket):
        async def on_layer_recovered(self) -> None:
            resynced.append("resync")

    async def scenario() -> None:
        hub = LocalFanout(channel_layer=None)
        hub.members["g"].add(Recovering())
        for sender, number in [("a", 7), ("a", 8), ("b", 1), ("a", 10), ("a", 9), ("a", 11), ("a", 1), ("a", 2)]:
            await hub._deliver(
                {"type": realtime.FRAME_EVENT, "frame": "{}", "group": "g", "sender": sender, "seq": number}
            )
            resynced.append(f"{sender}{number}")

    asyncio.run(scenario())
    assert resynced == ["a7", "a8", "b1", "resync", "a10", "a9", "a11", "a1", "a2"]
