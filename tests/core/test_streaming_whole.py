"""A response asked to be sent whole when small (a sync query's result): read before the answer and sent in one
piece, its deferred work run after the response is closed; a big one still streams, a failing one is cut off."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

from django.http import StreamingHttpResponse
from django.test import AsyncRequestFactory

from apps.core.streaming import after_response, whole_or_streaming_response


def chunks(n: int, ran: list[str], *, fail: bool = False) -> Iterator[bytes]:
    try:
        for i in range(n):
            yield f"{i:04d}".encode()
        if fail:
            raise RuntimeError("the engine went away")
    finally:
        after_response(lambda: ran.append(threading.current_thread().name))


def wait_for(ran: list[str]) -> list[str]:
    deadline = time.monotonic() + 10
    while not ran and time.monotonic() < deadline:
        time.sleep(0.01)
    return ran


async def read(response: StreamingHttpResponse) -> bytes:
    return b"".join([part async for part in response.streaming_content])  # type: ignore[union-attr]


def test_a_small_body_is_sent_whole_and_its_deferred_work_runs_after_it_is_closed() -> None:
    ran: list[str] = []
    response = whole_or_streaming_response(AsyncRequestFactory().get("/"), chunks(10, ran), "text/plain", whole_below=1024)
    assert not response.streaming and response.content == b"".join(f"{i:04d}".encode() for i in range(10))
    assert ran == []  # nothing before the response has gone
    response.close()  # what the ASGI handler does once it has sent it
    assert wait_for(ran) == ["after-response_0"]  # on the thread for such work, off the path of the next request


def test_a_body_past_the_limit_streams_every_byte_in_order() -> None:
    ran: list[str] = []
    response = whole_or_streaming_response(AsyncRequestFactory().get("/"), chunks(1000, ran), "text/plain", whole_below=100)
    assert response.streaming
    assert asyncio.run(read(response)) == b"".join(f"{i:04d}".encode() for i in range(1000))  # type: ignore[arg-type]
    assert wait_for(ran) == ["streaming-response"]  # run by the producer thread, after the last chunk


def test_a_small_body_that_fails_is_cut_off_after_what_came() -> None:
    ran: list[str] = []
    response = whole_or_streaming_response(AsyncRequestFactory().get("/"), chunks(3, ran, fail=True), "text/plain", whole_below=1024)
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
