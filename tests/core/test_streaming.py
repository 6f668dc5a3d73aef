"""Streaming responses stream under ASGI too (Django alone would read the whole iterator first)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

from django.test import AsyncRequestFactory, RequestFactory

from apps.core.streaming import QUEUE_CHUNKS, streaming_response


class Source:
    """A sync chunk iterator that remembers how far it was read, in which thread, and closing."""

    def __init__(self, chunks: int) -> None:
        self.produced, self.closed, self.threads = 0, threading.Event(), set[str]()
        self._left = chunks

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._left == 0:
            raise StopIteration
        self._left -= 1
        self.produced += 1
        self.threads.add(threading.current_thread().name)
        return b"x" * 1024

    def close(self) -> None:
        self.closed.set()


def test_under_asgi_chunks_are_pulled_as_the_client_reads_them() -> None:
    source = Source(10_000)
    response = streaming_response(AsyncRequestFactory().get("/"), source, "text/plain")
    assert response.is_async

    async def read_three() -> list[bytes]:
        parts, stream = [], aiter(response.streaming_content)
        for _ in range(3):
            parts.append(await anext(stream))
        await stream.aclose()  # the client goes away
        return parts

    parts = asyncio.run(read_three())
    assert parts == [b"x" * 1024] * 3
    assert source.closed.wait(5)
    assert source.produced <= 3 + QUEUE_CHUNKS + 2  # never the whole iterator
    assert source.threads == {"streaming-response"}


def test_under_asgi_the_whole_content_arrives_in_order() -> None:
    chunks = [str(i).encode() for i in range(100)]
    response = streaming_response(AsyncRequestFactory().get("/"), iter(chunks), "text/plain", status=206)

    async def read_all() -> list[bytes]:
        return [part async for part in response.streaming_content]  # type: ignore[union-attr]

    assert asyncio.run(read_all()) == chunks and response.status_code == 206


def test_an_error_in_the_middle_reaches_the_reader() -> None:
    def failing() -> Iterator[bytes]:
        yield b"first"
        raise RuntimeError("the engine went away")

    response = streaming_response(AsyncRequestFactory().get("/"), failing(), "text/plain")

    async def read_all() -> list[bytes]:
        return [part async for part in response.streaming_content]  # type: ignore[union-attr]

    try:
        asyncio.run(read_all())
    except RuntimeError as exc:
        assert "went away" in str(exc)
    else:
        raise AssertionError("the error was swallowed")


def test_under_wsgi_the_iterator_is_served_as_it_is() -> None:
    source = Source(3)
    response = streaming_response(RequestFactory().get("/"), source, "text/plain")
    assert not response.is_async and b"".join(response.streaming_content) == b"x" * 3072  # type: ignore[arg-type]
