"""The portal gateway: a Unix socket that forwards each connection to the portal's HTTP port, and nowhere else.

Compute jobs run without any network. The portal runs one gateway container
per Docker engine and portal address (``apps/compute/gateway.py``); the folder
holding its socket is mounted read-only into every job at /run/daiquiri, and
the client library speaks HTTP over that socket. A job can therefore open
connections to exactly one place, the portal's HTTP server, whatever it sends:
databases, brokers and every other port of the host stay out of reach.

    python3 -m daiquiri_client.gateway /run/daiquiri/portal.sock 127.0.0.1 8000 [127.0.0.2]

The optional last argument is the source address of the forwarded connections:
with the portal on 127.0.0.1, jobs' requests come from 127.0.0.2, so the
portal (its logs, its per-address limits) tells them from local clients.
``DAIQUIRI_GATEWAY_MAX_CONNECTIONS`` raises the number of connections served at
once (a gateway to Spark Connect keeps one open per live notebook session).

Standard library only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable

MAX_CONNECTIONS = 64  # a job that opens thousands of connections waits; the portal is not flooded
CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def relay(open_upstream: Callable[[], Awaitable[Streams]], slots: asyncio.Semaphore,
                reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Pass one accepted connection's bytes both ways to a connection ``open_upstream`` makes (this gateway's
    and the in-session Spark forwarder's), at most ``slots`` at once; an unreachable upstream closes it."""
    async with slots:
        try:
            up_reader, up_writer = await open_upstream()
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await w.wait_closed()


async def _serve_one(
    upstream: tuple[str, int, str], slots: asyncio.Semaphore, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
) -> None:
    host, port, source = upstream
    await relay(lambda: asyncio.open_connection(host, port, local_addr=(source, 0) if source else None), slots, reader, writer)


async def serve(path: str, host: str, port: int, source: str = "", max_connections: int = MAX_CONNECTIONS) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # left by an earlier gateway of the same folder
    slots = asyncio.Semaphore(max_connections)
    server = await asyncio.start_unix_server(lambda r, w: _serve_one((host, port, source), slots, r, w), path=path)
    os.chmod(path, 0o666)  # noqa: S103  (any job user may connect; the folder is mounted read-only)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) not in (4, 5):
        print("usage: python3 -m daiquiri_client.gateway SOCKET HOST PORT [SOURCE]", file=sys.stderr)
        return 2
    max_connections = int(os.environ.get("DAIQUIRI_GATEWAY_MAX_CONNECTIONS") or MAX_CONNECTIONS)
    asyncio.run(serve(argv[1], argv[2], int(argv[3]), argv[4] if len(argv) == 5 else "", max_connections))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
