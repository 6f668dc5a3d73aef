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

Work that no client waits for (a sync query's bookkeeping) is handed to ``after_response``: the
producer thread runs it once the last chunk is handed to the server. Where nothing streams in a
thread of its own (WSGI, the test client, a response that is not streamed) it runs at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

QUEUE_CHUNKS = 4  # chunks are 64 KiB-1 MiB: at most a few MiB in flight
_DONE = object()
log = logging.getLogger(__name__)
_producing = threading.local()  # .deferred: the work this producer thread runs after its response


def after_response(work: Callable[[], None]) -> None:
    """Run ``work`` once the response this thread streams has been handed over; at once if it streams none."""
    deferred: list[Callable[[], None]] | None = getattr(_producing, "deferred", None)
    if deferred is None:
        work()
    else:
        deferred.append(work)


def _run_deferred(deferred: list[Callable[[], None]]) -> None:
    for work in deferred:
        try:
            work()
        except Exception:  # the client has its answer: nobody else to tell
            log.exception("work deferred after a response failed")


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
    sent as one plain response (a small query result: no thread, no queue, one write); the work its production
    deferred goes to the after-response thread once the response is closed."""
    django_request = getattr(request, "_request", request)
    if not isinstance(django_request, ASGIRequest):
        return streaming_response(request, chunks, content_type, status)
    _release_connections()
    return _whole_or_streamed(chunks, content_type, status, whole_below)


class _WholeResponse(HttpResponse):
    """A body read in full before the response; what its production deferred runs once it has been sent."""

    deferred: list[Callable[[], None]]

    def close(self) -> None:
        super().close()
        if self.deferred:
            _AFTER_RESPONSE.submit(_run_deferred_and_close, self.deferred)


_AFTER_RESPONSE = ThreadPoolExecutor(1, thread_name_prefix="after-response")  # off the path of the next request


def _run_deferred_and_close(deferred: list[Callable[[], None]]) -> None:
    _run_deferred(deferred)
    connections.close_all()  # this thread's connections back to the pool


def _whole_or_streamed(chunks: Iterator[bytes], content_type: str, status: int, limit: int) -> HttpResponse | StreamingHttpResponse:
    parts: list[bytes] = []
    size, deferred = 0, list[Callable[[], None]]()
    _producing.deferred = deferred
    try:
        for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if size >= limit:  # not small after all: the rest streams from the producer thread
                return StreamingHttpResponse(_pulled_in_a_thread(chunks, first=parts, deferred=deferred),
                                             content_type=content_type, status=status)
    except Exception as exc:  # the same answer as a stream failing there: what came, then a cut-off body
        return StreamingHttpResponse(_replayed(parts, exc, deferred), content_type=content_type, status=status)
    finally:
        _producing.deferred = None
    response = _WholeResponse(b"".join(parts), content_type=content_type, status=status)
    response.deferred = deferred
    return response


async def _replayed(parts: list[bytes], exc: Exception, deferred: list[Callable[[], None]]) -> AsyncIterator[bytes]:
    try:
        for part in parts:
            yield part
        raise exc
    finally:
        if deferred:
            _AFTER_RESPONSE.submit(_run_deferred_and_close, deferred)


def _release_connections() -> None:
    """This thread's connections back to the pool (or closed); a later query in this thread opens one again."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:  # a transaction (a test's, say) keeps its connection
            conn.close()


async def _pulled_in_a_thread(chunks: Iterator[bytes], first: list[bytes] | None = None,
                              deferred: list[Callable[[], None]] | None = None) -> AsyncIterator[bytes]:
    """``first`` (already read), then the rest of ``chunks`` pulled in a thread of its own; ``deferred``: work
    already handed to after_response while ``first`` was read."""
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
        _producing.deferred = pending
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
                _producing.deferred = None
                connections.close_all()  # this thread's Django connections
                put(_DONE)
                if pending:
                    _run_deferred(pending)
                    connections.close_all()

    pending = deferred if deferred is not None else []
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
