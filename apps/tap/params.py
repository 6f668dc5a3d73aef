"""TAP/DALI request parameters: case-insensitive names, GET or POST, repeated UPLOAD.

Each parameter a TAP job knows is declared once below (apps/uws/parameters.py for
the UWS ones); job creation, the /parameters resource and sync queries read them
through these declarations, and a bad value is a ParameterError (answered 400).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.http import HttpRequest

from apps.uws.parameters import UWS_PARAMETERS, JobParameter, ParameterError, text, whole_number

ADQL = "ADQL"
T = TypeVar("T")

QUERY: JobParameter[str] = JobParameter("query", text, "", "The query, in LANG.")
LANG: JobParameter[str] = JobParameter("lang", text, "", "ADQL (ADQL-2.0, ADQL-2.1) or a native language.")
MAXREC: JobParameter[int | None] = JobParameter("maxrec", whole_number(minimum=0), None, "At most this many rows.")
RESPONSEFORMAT: JobParameter[str] = JobParameter("responseformat", text, "", "A MIME type or a short name; empty: VOTable.")
FORMAT: JobParameter[str] = JobParameter("format", text, "", "TAP 1.0's name of RESPONSEFORMAT.")
REQUEST: JobParameter[str] = JobParameter("request", text, "", "doQuery (TAP 1.0), or nothing.")
UPLOAD: JobParameter[str] = JobParameter("upload", text, "", "name,URI pairs of tables to upload (;-separated).")
QUEUE: JobParameter[str] = JobParameter("queue", text, "", "The query queue; empty: one that allows EXECUTIONDURATION.")
TABLE_NAME: JobParameter[str] = JobParameter("table_name", text, "", "Keep the result in MyDB under this name.")

TAP_PARAMETERS: tuple[JobParameter[Any], ...] = (QUERY, LANG, MAXREC, RESPONSEFORMAT, FORMAT, REQUEST, UPLOAD, QUEUE, TABLE_NAME)
# Every other parameter of a job is kept as given and shown in its parameter list.
KNOWN = frozenset(p.name for p in (*UWS_PARAMETERS, *TAP_PARAMETERS))


@dataclass
class TapParams:
    """All parameters of one request, names lower-cased, every value kept."""

    values: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str, default: str | None = None) -> str | None:
        found = self.values.get(name.lower())
        return found[-1] if found else default

    def all(self, name: str) -> list[str]:
        return self.values.get(name.lower(), [])

    def __contains__(self, name: str) -> bool:
        return name.lower() in self.values

    def read(self, parameter: JobParameter[T]) -> T:
        """The value of a declared parameter (its last one), or its default."""
        return parameter.read({parameter.name: self.get(parameter.name)})

    def last_values(self) -> dict[str, str]:
        """One value per name (the last), as UWS parameter lists show them; UPLOAD keeps all, ';'-joined."""
        return {k: (";".join(v) if k == "upload" else v[-1]) for k, v in self.values.items() if v}


def _length_of_chunked_body(request: HttpRequest) -> None:
    """A chunked POST (STILTS/TOPCAT send them) has no Content-Length, and Django then parses no form
    data at all: read the body (uploads are size-limited anyway) and give its length."""
    if request.method == "POST" and not request.META.get("CONTENT_LENGTH"):
        request.META["CONTENT_LENGTH"] = str(len(request.body))


def tap_params(request: HttpRequest) -> TapParams:
    """Read this first in a view: later reads of request.POST rely on its fix for chunked bodies."""
    _length_of_chunked_body(request)
    params = TapParams()
    sources = [request.GET, request.POST] if request.method == "POST" else [request.GET]
    for source in sources:
        for name in source:
            params.values.setdefault(name.lower(), []).extend(source.getlist(name))
    return params


def language(params: TapParams) -> str:
    """LANG, required by TAP 1.1 for queries; ADQL-2.0/ADQL-2.1 name a version."""
    value = (params.get("lang") or "").strip()
    if not value:
        raise ParameterError("LANG is required (for example LANG=ADQL).")
    return value


def query(params: TapParams) -> str:
    value = params.get("query") or ""
    if not value.strip():
        raise ParameterError("QUERY is required.")
    return value


def maxrec(params: TapParams) -> int | None:
    return params.read(MAXREC)


def response_format(params: TapParams) -> str:
    """RESPONSEFORMAT, or the older FORMAT; empty means the default (VOTable)."""
    return (params.get("responseformat") or params.get("format") or "").strip()


def check_request(params: TapParams) -> None:
    """TAP 1.0 clients send REQUEST=doQuery; TAP 1.1 dropped it but we accept that value."""
    value = params.get("request")
    if value is not None and value.strip() and value.strip() != "doQuery":
        raise ParameterError(f"REQUEST={value} is not supported; use REQUEST=doQuery or leave it out.")
