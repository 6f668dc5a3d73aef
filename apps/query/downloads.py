"""Downloads of stored results, streamed through apps.formats in constant memory."""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, StreamingHttpResponse

from apps import formats
from apps.core.streaming import streaming_response
from apps.datalink.results import describe_result

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


def result_info(job: QueryJob, url: str = "") -> formats.ResultInfo:
    infos = [("job_id", str(job.id))] + ([("job_url", url)] if url else [])
    info = formats.ResultInfo(query=job.query, overflow=job.overflow, table_name=job.table_name or "result",
                              description=f"Result of query job {job.id}", infos=infos, total_rows=job.row_count)
    describe_result(info, job.owner or AnonymousUser(), job.query, actions.result_columns(job))  # provenance, DataLink
    return info


def stream_result(job: QueryJob, fmt: str, url: str = "") -> tuple[Iterator[bytes], str]:
    """The bytes of the stored result in ``fmt`` (a key of FORMATS) and their content type."""
    resolved = formats.resolve_format(FORMATS[fmt][1])
    chunks = formats.write(resolved, actions.result_batches(job), actions.result_columns(job), result_info(job, url))
    return chunks, str(resolved.mime_type)


def download_response(request: HttpRequest, job: QueryJob, fmt: str, url: str = "") -> StreamingHttpResponse:
    chunks, content_type = stream_result(job, fmt, url)
    response = streaming_response(request, chunks, content_type)
    name = job.table_name or f"job_{job.id.hex}"
    response["Content-Disposition"] = f'attachment; filename="{name}.{FORMATS[fmt][2]}"'
    return response
