"""A response asked to be sent whole when small (a sync query's result): read before the answer and sent in one
piece; a big one still streams, every byte in order, its source closed by the producer thread; a failing one is cut off."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

from django.http import StreamingHttpResponse
from django.test import AsyncRequestFactory

from apps.core.streaming import whole_or_streaming_response


def chunks(n: int, closed_by: list[str], *, fail: bool = False) -> Iterator[bytes]:
    try:
        for i in range(n):
            yield f"{i:04d}".encode()
        if fail:
            raise RuntimeError("the engine went away")
    finally:
        closed_by.append(threading.current_thread().name)


async def read(response: StreamingHttpResponse) -> bytes:
    return b"".join([part async for part in response.streaming_content])  # type: ignore[union-attr]


def test_a_small_body_is_read_before_the_answer_and_sent_whole() -> None:
    closed_by: list[str] = []
    response = whole_or_streaming_response(AsyncRequestFactory().get("/"), chunks(10, closed_by), "text/plain", whole_below=1024)
    assert not response.streaming and response.content == b"".join(f"{i:04d}".encode() for i in range(10))
    assert closed_by == [threading.current_thread().name]  # read to its end here: no thread, no queue


def test_a_body_past_the_limit_streams_every_byte_in_order() -> None:
    closed_by: list[str] = []
    response = whole_or_streaming_response(AsyncRequestFactory().get("/"), chunks(1000, closed_by), "text/plain", whole_below=100)
    assert response.streaming
    assert asyncio.run(read(response)) == b"".join(f"{i:04d}".encode() for i in range(1000))  # type: ignore[arg-type]
    assert closed_by == ["streaming-response"]  # the rest was pulled (and the source closed) by the producer thread


def test_a_small_body_that_fails_is_cut_off_after_what_came() -> None:
    closed_by: list[str] = []
    response = whole_or_streaming_response(AsyncRequestFactory().get("/"), chunks(3, closed_by, fail=True), "text/plain", whole_below=1024)
    assert response.streaming
    parts: list[bytes] = []

    async def read_parts() -> None:
        async for part in response.streaming_content:  # type: ignore[union-attr]
            parts.append(part)

    try:
        asyncio.run(read_parts())
    except RuntimeError as exc:
        assert "went away" in str(exc)
    else:
        raise AssertionError("the error was swallowed")
    assert parts == [b"0000", b"0001", b"0002"]
