"""Streaming responses that really stream, under ASGI as under WSGI.

Django serves a StreamingHttpResponse built on a *sync* iterator under ASGI by
first reading the whole iterator into a list: a 10-million-row download would
sit in memory. So under ASGI the iterator is pulled in one thread of its own
(engines' cursors stay in the thread that opened them) through a small queue:
constant memory, and no other request waits for it.

The request's own thread gives its database connection back before the body
streams (the pool is bounded: a thread holding one while its producer waits
for another would deadlock once every connection is held that way). The
producer thread takes one only when it needs it and returns it at the end.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

QUEUE_CHUNKS = 4  # chunks are 64 KiB-1 MiB: at most a few MiB in flight
_DONE = object()


def streaming_response(request: HttpRequest, chunks: Iterator[bytes], content_type: str, status: int = 200) -> StreamingHttpResponse:
    django_request = getattr(request, "_request", request)  # REST framework wraps Django's request
    content: Iterator[bytes] | AsyncIterator[bytes] = chunks
    if isinstance(django_request, ASGIRequest):
        _release_connections()
        content = _pulled_in_a_thread(chunks)
    return StreamingHttpResponse(content, content_type=content_type, status=status)


def whole_or_streaming_response(request: HttpRequest, chunks: Iterator[bytes], content_type: str, status: int = 200, *,
                                whole_below: int) -> HttpResponse | StreamingHttpResponse:
    """As ``streaming_response``, but under ASGI a body that ends within ``whole_below`` bytes is read here and
    sent as one plain response (a small query result: no thread, no queue, one write)."""
    django_request = getattr(request, "_request", request)
    if not isinstance(django_request, ASGIRequest):
        return streaming_response(request, chunks, content_type, status)
    _release_connections()
    return _whole_or_streamed(chunks, content_type, status, whole_below)


def _whole_or_streamed(chunks: Iterator[bytes], content_type: str, status: int, limit: int) -> HttpResponse | StreamingHttpResponse:
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if size >= limit:  # not small after all: the rest streams from the producer thread
                return StreamingHttpResponse(_pulled_in_a_thread(chunks, first=parts), content_type=content_type, status=status)
    except Exception as exc:  # the same answer as a stream failing there: what came, then a cut-off body
        return StreamingHttpResponse(_replayed(parts, exc), content_type=content_type, status=status)
    return HttpResponse(b"".join(parts), content_type=content_type, status=status)


async def _replayed(parts: list[bytes], exc: Exception) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    raise exc


def _release_connections() -> None:
    """This thread's connections back to the pool (or closed); a later query in this thread opens one again."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:  # a transaction (a test's, say) keeps its connection
            conn.close()


async def _pulled_in_a_thread(chunks: Iterator[bytes], first: list[bytes] | None = None) -> AsyncIterator[bytes]:
    """``first`` (already read), then the rest of ``chunks`` pulled in a thread of its own."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=QUEUE_CHUNKS)
    gone = threading.Event()  # the client went away: stop producing

    def put(item: object) -> bool:
        try:
            future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        except RuntimeError:  # the event loop is closed: nobody is reading any more
            return False
        while True:
            try:
                future.result(timeout=1)
                return True
            except concurrent.futures.TimeoutError:
                if gone.is_set():
                    future.cancel()
                    return False
            except concurrent.futures.CancelledError:
                return False

    def produce() -> None:
        try:
            for chunk in itertools.chain(first or (), chunks):
                if gone.is_set() or not put(chunk):
                    break
        except Exception as exc:  # handed to the response, which ends the connection
            put(exc)
        finally:
            try:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()  # releases the engine's cursor in its own thread
            finally:
                connections.close_all()  # this thread's Django connections
                put(_DONE)

    # Middleware may have used the database again after the view: give that connection back too, from the
    # request's own thread (thread-sensitive), before the body starts.
    await sync_to_async(_release_connections, thread_sensitive=True)()
    threading.Thread(target=produce, name="streaming-response", daemon=True).start()
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            if isinstance(item, Exception):
                raise item
            yield item  # type: ignore[misc]
    finally:
        gone.set()
