"""A TCP proxy that delays every answer from the server, as a database on another host would.

    python bench/delayproxy.py LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS

``bench/fanout.py --database-delay-ms 1`` starts it in front of PostgreSQL:
loopback answers in microseconds, a database across a network in a
millisecond or more, and code that queues its queries behind each other only
shows its cost with the real distance.
"""

from __future__ import annotations

import asyncio
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while data := await reader.read(65536):
            if delay:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def serve(listen_port: int, host: str, port: int, delay_ms: float) -> None:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(host, port)
        await asyncio.gather(
            _pipe(client_reader, server_writer, 0), _pipe(server_reader, client_writer, delay_ms / 1000)
        )

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    listen, host, port, delay = sys.argv[1:5]
    asyncio.run(serve(int(listen), host, int(port), float(delay)))
