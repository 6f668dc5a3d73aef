"""Downloads of stored results, streamed through apps.formats in constant memory."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse

from . import actions
from .models import QueryJob

# name in the URL -> (label, RESPONSEFORMAT asked of apps.formats, file extension)
FORMATS: dict[str, tuple[str, str, str]] = {
    "csv": ("CSV", "csv", "csv"),
    "votable": ("VOTable (TABLEDATA)", "votable/td", "xml"),
    "votable-binary2": ("VOTable (BINARY2)", "votable/b2", "xml"),
    "fits": ("FITS binary table", "fits", "fits"),
    "parquet": ("Parquet (with VOTable metadata)", "parquet", "parquet"),
}


def _formats() -> Any | None:
    try:
        from apps import formats  # the output writers (another app); absent until it lands
    except ImportError:
        return None
    return formats if hasattr(formats, "write") else None


def result_info(job: QueryJob, url: str = "") -> Any:
    formats = _formats()
    assert formats is not None
    infos = [("job_id", str(job.id))] + ([("job_url", url)] if url else [])
    return formats.ResultInfo(query=job.query, overflow=job.overflow, table_name=job.table_name or "result",
                              description=f"Result of query job {job.id}", infos=infos, total_rows=job.row_count)


def stream_result(job: QueryJob, fmt: str, url: str = "") -> tuple[Iterator[bytes], str]:
    """The bytes of the stored result in ``fmt`` (a key of FORMATS) and their content type."""
    formats = _formats()
    if formats is None:  # until apps.formats lands: CSV written here
        return _csv(actions.result_batches(job)), "text/csv; charset=utf-8"
    resolved = formats.resolve_format(FORMATS[fmt][1])
    chunks = formats.write(resolved, actions.result_batches(job), actions.result_columns(job), result_info(job, url))
    return chunks, str(resolved.mime_type)


def _csv(batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    header = True
    for batch in batches:
        sink = io.BytesIO()
        pacsv.write_csv(batch, sink, pacsv.WriteOptions(include_header=header))
        header = False
        yield sink.getvalue()


def streaming_response(request: HttpRequest, chunks: Iterator[bytes], content_type: str) -> StreamingHttpResponse:
    """A response that streams ``chunks`` under both servers.

    Django buffers a whole sync iterator when served by ASGI (and a whole async one under WSGI),
    so each server gets the kind it streams: under ASGI each chunk is pulled in a worker thread.
    """
    if isinstance(request, ASGIRequest):
        return StreamingHttpResponse(_async_chunks(chunks), content_type=content_type)
    return StreamingHttpResponse(chunks, content_type=content_type)


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    it = iter(chunks)
    pull = sync_to_async(lambda: next(it, None), thread_sensitive=True)
    try:
        while True:
            chunk = await pull()
            if chunk is None:
                return
            yield chunk
    finally:  # the client went away or we are done: release the engine's cursor
        close = getattr(it, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


def download_response(request: HttpRequest, job: QueryJob, fmt: str, url: str = "") -> StreamingHttpResponse:
    chunks, content_type = stream_result(job, fmt, url)
    response = streaming_response(request, chunks, content_type)
    name = job.table_name or f"job_{job.id.hex}"
    response["Content-Disposition"] = f'attachment; filename="{name}.{FORMATS[fmt][2]}"'
    return response
