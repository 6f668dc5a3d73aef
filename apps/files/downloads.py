"""Streamed downloads with single HTTP byte ranges (resuming, seeking in FITS)."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from apps.core.streaming import streaming_response

CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Shown inline (previews); anything else is always an attachment, so no
# uploaded HTML or SVG ever runs in the portal's origin.
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


class RangeNotSatisfiable(ValueError):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for one ``bytes=`` range; None for none or for a form we ignore."""
    match = _RANGE.match(header.strip()) if header else None
    if not match or match.groups() == ("", ""):
        return None
    first_text, last_text = match.groups()
    if first_text == "":  # suffix: the last N bytes
        length = int(last_text)
        if length == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - length), size - 1
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or first > last:
        raise RangeNotSatisfiable(header)
    return first, last


def _stream(fileobj: BinaryIO, first: int, length: int) -> Iterator[bytes]:
    try:
        fileobj.seek(first)
        while length > 0:
            chunk = fileobj.read(min(CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
    finally:
        fileobj.close()


def file_response(request: HttpRequest, fileobj: BinaryIO, size: int, name: str, range_header: str = "",
                  inline: bool = False) -> HttpResponse | StreamingHttpResponse:
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    try:
        span = parse_range(range_header, size)
    except RangeNotSatisfiable:
        fileobj.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    first, last = span if span else (0, size - 1)
    streaming = streaming_response(request, _stream(fileobj, first, last - first + 1), content_type, status=206 if span else 200)
    if span:
        streaming["Content-Range"] = f"bytes {first}-{last}/{size}"
    return _headers(streaming, size, first, last, name, content_type, inline)


def _headers(response: StreamingHttpResponse, size: int, first: int, last: int, name: str, content_type: str, inline: bool) -> StreamingHttpResponse:
    response["Content-Length"] = str(max(0, last - first + 1))
    response["Accept-Ranges"] = "bytes"
    show_inline = inline and content_type in INLINE_TYPES
    response["Content-Type"] = content_type if show_inline else (content_type if content_type != "text/html" else "application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    disposition = "inline" if show_inline else "attachment"
    response["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(name)}"
    return response
