"""Spark Connect inside a notebook session whose compute domain offers it.

A session has no network. Where the operator turned Spark Connect on for the
session's compute domain, the portal mounts a second gateway socket at
``DAIQUIRI_SPARK_SOCKET``: a gateway container forwards it to the Spark Connect
server and nowhere else (``apps/compute/gateway.py``). The Spark Connect client
speaks gRPC to a ``host:port``, so this module's forwarder, started by the
image's start-session script, listens on 127.0.0.1:15002 inside the session
(its loopback is all the network it has) and passes each connection to that
socket. ``SPARK_REMOTE`` names the local address, so
``SparkSession.builder.getOrCreate()`` reaches the data centre's Spark:

    python3 -m daiquiri_client.spark /run/daiquiri-spark/spark.sock 15002

Standard library only (the Spark client itself comes with the notebook image).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from .gateway import MAX_CONNECTIONS, relay

LOCAL_PORT = 15002  # Spark Connect's usual port, on the session's own loopback


class SparkUnavailable(RuntimeError):
    """This session's compute domain does not offer Spark Connect."""


def session() -> Any:
    """A Spark Connect session on the data centre's Spark (``SPARK_REMOTE``, set by the portal)."""
    remote = os.environ.get("SPARK_REMOTE", "")
    if not remote:
        raise SparkUnavailable(
            "This session's compute domain does not offer Spark Connect. "
            "Portal().query_df(adql, engine='spark') runs ADQL on the portal's Spark for you."
        )
    from pyspark.sql import SparkSession  # in the notebook image

    return SparkSession.builder.remote(remote).getOrCreate()


async def _serve_one(socket_path: str, slots: asyncio.Semaphore, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await relay(lambda: asyncio.open_unix_connection(socket_path), slots, reader, writer)


async def serve(socket_path: str, port: int) -> None:
    slots = asyncio.Semaphore(MAX_CONNECTIONS)
    server = await asyncio.start_server(lambda r, w: _serve_one(socket_path, slots, r, w), host="127.0.0.1", port=port)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python3 -m daiquiri_client.spark SOCKET PORT", file=sys.stderr)
        return 2
    asyncio.run(serve(argv[1], int(argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
