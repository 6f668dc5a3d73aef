"""UWS 1.1 XML documents: job, job list, results, parameters, error summary.

Plain data in (the dataclasses below), bytes out; the schema is
http://www.ivoa.net/xml/UWS/v1.0 (UWS 1.1 keeps the 1.0 namespace and adds
version="1.1").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

UWS_NS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
VERSION = "1.1"
CONTENT_TYPE = "application/xml; charset=utf-8"

ET.register_namespace("uws", UWS_NS)
ET.register_namespace("xlink", XLINK_NS)
ET.register_namespace("xsi", XSI_NS)


@dataclass(frozen=True)
class Result:
    id: str
    href: str
    mime_type: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class ErrorSummary:
    message: str
    fatal: bool = True
    has_detail: bool = False


@dataclass(frozen=True)
class JobSummary:
    """Everything a UWS job document says about one job."""

    job_id: str
    phase: str
    owner_id: str | None
    creation_time: dt.datetime
    run_id: str = ""
    quote: dt.datetime | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    execution_duration: int = 0
    destruction: dt.datetime | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    by_reference: frozenset[str] = frozenset()  # parameters whose value is a URL
    results: tuple[Result, ...] = ()
    error: ErrorSummary | None = None


@dataclass(frozen=True)
class JobRef:
    job_id: str
    href: str
    phase: str
    run_id: str = ""
    owner_id: str | None = None
    creation_time: dt.datetime | None = None


def timestamp(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a Z, as DALI asks for."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds" if value.microsecond else "seconds") + "Z"


def parse_timestamp(text: str) -> dt.datetime:
    """A DALI timestamp (Z or an offset or none, meaning UTC) as an aware datetime."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _q(tag: str) -> str:
    return f"{{{UWS_NS}}}{tag}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, nil: bool = False) -> ET.Element:
    element = ET.SubElement(parent, _q(tag))
    if nil:
        element.set(f"{{{XSI_NS}}}nil", "true")
    elif text is not None:
        element.text = text
    return element


def _time(parent: ET.Element, tag: str, value: dt.datetime | None) -> None:
    _sub(parent, tag, timestamp(value) if value else None, nil=value is None)


def _serialize(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _root(tag: str) -> ET.Element:
    root = ET.Element(_q(tag))
    root.set("version", VERSION)
    return root


def _fill_parameters(element: ET.Element, parameters: Mapping[str, str], by_reference: frozenset[str]) -> None:
    for name, value in parameters.items():
        param = _sub(element, "parameter", value)
        param.set("id", name)
        if name in by_reference:
            param.set("byReference", "true")


def _fill_results(element: ET.Element, results: Iterable[Result]) -> None:
    for result in results:
        ref = _sub(element, "result")
        ref.set("id", result.id)
        ref.set(f"{{{XLINK_NS}}}type", "simple")
        ref.set(f"{{{XLINK_NS}}}href", result.href)
        if result.mime_type:
            ref.set("mime-type", result.mime_type)
        if result.size is not None:
            ref.set("size", str(result.size))


def _fill_error(parent: ET.Element, error: ErrorSummary) -> None:
    summary = _sub(parent, "errorSummary")
    summary.set("type", "fatal" if error.fatal else "transient")
    summary.set("hasDetail", "true" if error.has_detail else "false")
    _sub(summary, "message", error.message)


def job_document(job: JobSummary) -> bytes:
    root = _root("job")
    _sub(root, "jobId", job.job_id)
    if job.run_id:
        _sub(root, "runId", job.run_id)
    _sub(root, "ownerId", job.owner_id, nil=job.owner_id is None)
    _sub(root, "phase", job.phase)
    _time(root, "quote", job.quote)
    _time(root, "creationTime", job.creation_time)
    _time(root, "startTime", job.start_time)
    _time(root, "endTime", job.end_time)
    _sub(root, "executionDuration", str(job.execution_duration))
    _time(root, "destruction", job.destruction)
    _fill_parameters(_sub(root, "parameters"), job.parameters, job.by_reference)
    _fill_results(_sub(root, "results"), job.results)
    if job.error is not None:
        _fill_error(root, job.error)
    return _serialize(root)


def job_list_document(refs: Iterable[JobRef]) -> bytes:
    root = _root("jobs")
    for ref in refs:
        element = _sub(root, "jobref")
        element.set("id", ref.job_id)
        element.set(f"{{{XLINK_NS}}}type", "simple")
        element.set(f"{{{XLINK_NS}}}href", ref.href)
        _sub(element, "phase", ref.phase)
        if ref.run_id:
            _sub(element, "runId", ref.run_id)
        if ref.owner_id is not None:
            _sub(element, "ownerId", ref.owner_id)
        if ref.creation_time is not None:
            _sub(element, "creationTime", timestamp(ref.creation_time))
    return _serialize(root)


def results_document(results: Iterable[Result]) -> bytes:
    root = ET.Element(_q("results"))
    _fill_results(root, results)
    return _serialize(root)


def parameters_document(parameters: Mapping[str, str], by_reference: frozenset[str] = frozenset()) -> bytes:
    root = ET.Element(_q("parameters"))
    _fill_parameters(root, parameters, by_reference)
    return _serialize(root)


def error_document(error: ErrorSummary) -> bytes:
    """The job's errorSummary on its own (the /error resource answers with text)."""
    holder = ET.Element("holder")
    _fill_error(holder, error)
    return _serialize(holder[0])
