"""What the process's fan-out needs of one open connection, whatever carries it.

The fan-out (fanout.py) holds subscribers, not consumers: a WebSocket consumer
(``LiveConsumer``) is one; any other transport that keeps a connection open (a
server-sent-events stream, say) is another by implementing these four methods.
"""

from __future__ import annotations

from typing import Any, Protocol


class Subscriber(Protocol):
    async def deliver_frame(self, frame: str) -> None:
        """Write one encoded protocol frame to the client (a no-op once the client has gone)."""

    async def deliver_event(self, event: dict[str, Any]) -> None:
        """Handle a channel-layer event of a group the connection follows (``{"type": "chat.typing"}``)."""

    async def on_layer_recovered(self) -> None:
        """Live events may have been lost (the channel layer was down, or dropped some): ask the client to sync."""

    async def release(self) -> None:
        """Leave every group and the connection count now (the process is shutting down)."""
