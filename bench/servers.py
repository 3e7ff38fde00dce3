"""The reference servers the fan-out benchmark compares this product with.

``bare``: a plain ``websockets`` server, the limit of what one core can deliver.
A sender connection sends ``{"to": "all" | <client index>, ...}`` and the
server forwards the text to every client or to one.

``daphne``: an ASGI app that only accepts sockets, served by Daphne (storm only):
the floor any Daphne-served app starts from.

``stock``: the documented Channels pattern: a JSON consumer in a group per
user and a group for everyone, ``group_send`` from the sender, default
channels-redis core layer, served by Daphne (run: ``daphne bench.servers:stock``
with ``DJANGO_SETTINGS_MODULE=bench.servers`` and ``REDIS_URL``).
"""

from __future__ import annotations

import asyncio
import os
import sys

# --- stock Channels (settings and application in this module) ----------------------

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
USE_TZ = True
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")], "prefix": "stock-bench"},
    }
}


def _stock_application() -> object:
    import django

    django.setup()
    from channels.generic.websocket import AsyncJsonWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    class StockConsumer(AsyncJsonWebsocketConsumer):
        async def connect(self) -> None:
            client = self.scope["url_route"]["kwargs"]["client"]
            self.groups = ["all", f"client-{client}"]
            for group in self.groups:
                await self.channel_layer.group_add(group, self.channel_name)
            await self.accept()

        async def bench_message(self, event: dict) -> None:
            await self.send_json(event["payload"])

    return ProtocolTypeRouter({"websocket": URLRouter([path("ws/<int:client>/", StockConsumer.as_asgi())])})


def __getattr__(name: str) -> object:
    if name == "stock":
        return _stock_application()
    raise AttributeError(name)


# --- Daphne's floor: no Django, no channel layer -------------------------------------------


async def floor(scope: dict, receive: object, send: object) -> None:
    """Accept every WebSocket and wait for it to close: what Daphne alone costs per connection.

    Run: ``daphne bench.servers:floor``. Only the connection storm uses it.
    """
    if scope["type"] != "websocket":
        return
    while True:
        message = await receive()  # type: ignore[operator]
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})  # type: ignore[operator]
        elif message["type"] == "websocket.disconnect":
            return


# --- bare websockets ---------------------------------------------------------------------


async def bare_server(port: int) -> None:
    import json

    from websockets.asyncio.server import broadcast, serve

    clients: dict[int, object] = {}

    async def handler(connection: object) -> None:
        path = connection.request.path  # type: ignore[attr-defined]
        if path == "/send":
            async for text in connection:  # type: ignore[attr-defined]
                to = json.loads(text)["to"]
                if to == "all":
                    broadcast(list(clients.values()), text)
                elif to in clients:
                    await clients[to].send(text)  # type: ignore[attr-defined]
            return
        index = int(path.strip("/").split("/")[-1])
        clients[index] = connection
        try:
            await connection.wait_closed()  # type: ignore[attr-defined]
        finally:
            clients.pop(index, None)

    async with serve(handler, "127.0.0.1", port, max_size=2**20, backlog=8192):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(bare_server(int(sys.argv[1])))
