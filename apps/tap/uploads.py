"""TAP UPLOAD: tables sent inline (multipart) or by URL, stored as Parquet for the query service.

``UPLOAD=name,param:part`` names a file part of the request; ``UPLOAD=name,http(s)://...``
is fetched by the server, never more than TAP_UPLOAD_MAX_BYTES, only over
HTTP(S) and only from public hosts or the portal itself. Uploads are content, read from memory by
apps/formats/readers.py: a VOTable that refers to anything outside itself (STREAM href, DOCTYPE,
XInclude) is refused before astropy sees it, CSV goes to pyarrow (never taken for a file name), and
both are refused before parsing when they would build more than TAP_UPLOAD_MAX_COLUMNS columns
or TAP_UPLOAD_MAX_CELLS cells. Each upload becomes ``<VAR_DIR>/uploads/<random>/<name>.parquet``,
private to its job.
"""

from __future__ import annotations

import http.client
import ipaddress
import pathlib
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.table import Table
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from apps.formats.readers import Limits, ReaderError, open_votable, read_csv, without_paths
from apps.query.uploads import Upload, check_upload_name

from .params import ParameterError

FETCH_TIMEOUT_S = 20


def max_bytes() -> int:
    return int(getattr(settings, "TAP_UPLOAD_MAX_BYTES", 16 * 1024 * 1024))


def limits() -> Limits:
    return Limits(max_columns=int(getattr(settings, "TAP_UPLOAD_MAX_COLUMNS", 1000)),
                  max_cells=int(getattr(settings, "TAP_UPLOAD_MAX_CELLS", 2_000_000)),
                  max_bytes=16 * max_bytes())  # what astropy may allocate: fixed-size arrays cost more than their text


def upload_root() -> pathlib.Path:
    return pathlib.Path(settings.VAR_DIR) / "uploads"


def parse_upload_param(values: Iterable[str]) -> list[tuple[str, str]]:
    """``name,uri[;name,uri]...`` (possibly repeated) as (name, uri) pairs."""
    pairs = []
    for value in values:
        for item in value.split(";"):
            if not item.strip():
                continue
            name, sep, uri = item.partition(",")
            if not sep or not uri.strip():
                raise ParameterError(f"UPLOAD must be 'table name,URI', not {item!r}.")
            try:
                pairs.append((check_upload_name(name.strip()), uri.strip()))
            except ValueError as exc:
                raise ParameterError(str(exc)) from None
    names = [n.lower() for n, _ in pairs]
    if len(set(names)) != len(names):
        raise ParameterError("Two uploaded tables have the same name.")
    return pairs


def read_bytes(uri: str, files: Mapping[str, UploadedFile]) -> bytes:
    limit = max_bytes()
    if uri.startswith("param:"):
        part = files.get(uri[len("param:"):])
        if part is None:
            raise ParameterError(f"UPLOAD refers to {uri}, but the request has no such file part.")
        data: bytes = part.read(limit + 1)
        if len(data) > limit:
            raise ParameterError(f"The uploaded table is larger than the limit of {limit} bytes.")
        return data
    if not uri.lower().startswith(("http://", "https://")):
        raise ParameterError(f"UPLOAD takes param: or http(s):// URIs, not {uri!r}.")
    return _fetch(uri, limit)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or (443 if parts.scheme.lower() == "https" else 80)


def _trusted(host: str, port: int | None) -> bool:
    site = _origin(settings.SITE_URL)
    return bool(getattr(settings, "TAP_UPLOAD_PRIVATE_HOSTS", False)) or (host.lower(), port) == site[1:]


def _public_addresses(host: str, port: int | None) -> list[str]:
    try:
        addresses = [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]
    except (OSError, UnicodeError) as exc:
        raise ParameterError(f"The host {host} cannot be found: {exc}") from None
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses):
        raise ParameterError(f"UPLOAD URLs must point to public hosts, not {host}.")
    return addresses


def check_host(url: str) -> None:
    """The server fetches the URL, so it must not become a way into our own network: only public
    addresses, or this portal itself (SITE_URL), unless TAP_UPLOAD_PRIVATE_HOSTS allows more."""
    _, host, port = _origin(url)
    if not _trusted(host, port):
        _public_addresses(host, port)


def _checked_connection(address: tuple[str, int], timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
                        source_address: Any = None, **kwargs: Any) -> socket.socket:
    """Connect to an address checked in the same lookup: a name that resolves to a public address for
    check_host and to a private one a moment later (DNS rebinding) must not reach inside."""
    host, port = address
    if _trusted(host, port):
        return socket.create_connection(address, timeout, source_address)
    try:
        return socket.create_connection((_public_addresses(host, port)[0], port), timeout, source_address)
    except ParameterError as exc:
        raise OSError(str(exc)) from None


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connection


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connection  # TLS still verifies the name, not the address


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_CheckedHTTPConnection, req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_CheckedHTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to public http(s) URLs: an upload URL must not lead to ftp:, file: or inside."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        if not newurl.lower().startswith(("http://", "https://")):
            raise urllib.error.URLError(f"redirected to a URL that is not http(s): {newurl}")
        try:
            check_host(newurl)
        except ParameterError as exc:
            raise urllib.error.URLError(str(exc)) from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.OpenerDirector()
for _handler in (_CheckedHTTPHandler(), _CheckedHTTPSHandler(), _CheckedRedirects(),
                 urllib.request.HTTPErrorProcessor(), urllib.request.HTTPDefaultErrorHandler()):
    _OPENER.add_handler(_handler)


def _fetch(url: str, limit: int) -> bytes:
    check_host(url)
    request = urllib.request.Request(url, headers={"User-Agent": "daiquiri-tap-upload"})  # noqa: S310  # http(s) only
    try:
        with _OPENER.open(request, timeout=FETCH_TIMEOUT_S) as response:
            data: bytes = response.read(limit + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ParameterError(f"The table at {url} could not be fetched: {exc}") from None
    if len(data) > limit:
        raise ParameterError(f"The table at {url} is larger than the upload limit of {limit} bytes.")
    return data


def read_table(data: bytes) -> pa.Table:
    """A VOTable (first TABLE) or, failing that, a CSV file, as Arrow. VOTable timestamps (xtype) become timestamps."""
    try:
        if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
            return _votable_table(data)
        return read_csv(data, limits())
    except ReaderError as exc:
        raise ParameterError(str(exc)) from None
    except (ValueError, TypeError) as exc:  # cells astropy read but that do not convert (a timestamp that is none)
        raise ParameterError(f"The uploaded table cannot be converted: {without_paths(str(exc))}") from None


def _votable_table(data: bytes) -> pa.Table:
    votable = open_votable(data, limits()).get_first_table()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # astropy warns about every small VOTable deviation
            table = votable.to_table()
    except Exception as exc:  # astropy raises many kinds for bad VOTables
        raise ReaderError(f"The uploaded VOTable cannot be read: {without_paths(str(exc))}") from None
    for f in votable.fields:
        if (f.xtype or "").lower() == "timestamp" and f.name in table.colnames:
            table[f.name] = _timestamps(table[f.name])
    return to_arrow(table)


def _timestamps(column: Any) -> np.ma.MaskedArray:
    mask = np.ma.getmaskarray(column)
    text = [None if mask[i] else _cell(v) for i, v in enumerate(np.ma.getdata(column))]
    values = np.array([np.datetime64(t.strip().rstrip("Z") or "NaT", "ms") if t else np.datetime64("NaT") for t in text])
    return np.ma.MaskedArray(values, mask=np.isnat(values))


def _cell(value: Any) -> Any:
    if value is None or value is np.ma.masked:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):  # an array in one cell: kept as text
        return str(value.tolist())
    return value.item() if isinstance(value, np.generic) else value


def _arrow_column(column: Any) -> pa.Array:
    mask = np.ma.getmaskarray(column) if np.ma.isMaskedArray(column) else None
    values = np.ma.getdata(column)
    if values.ndim > 1:  # fixed-size arrays per cell: kept as text
        return pa.array([None if mask is not None and np.any(mask[i]) else str(v.tolist()) for i, v in enumerate(values)],
                        pa.string())
    if values.dtype.kind == "M":
        return pa.array(values.astype("datetime64[ms]"), pa.timestamp("ms"), mask=mask if mask is not None and mask.any() else None)
    if values.dtype.kind in "OSU":  # text (variable-length VOTable char columns arrive as objects)
        cells = [None if mask is not None and mask[i] else _cell(v) for i, v in enumerate(values)]
        return pa.array([None if c is None else str(c) for c in cells], pa.string())
    if mask is not None and mask.any():
        return pa.array(values, mask=mask)
    return pa.array(values)


def to_arrow(table: Table) -> pa.Table:
    names = [str(n) for n in table.colnames]
    if not names:
        raise ParameterError("The uploaded table has no columns.")
    return pa.table([_arrow_column(table[n]) for n in names], names=names)


def store_uploads(pairs: list[tuple[str, str]], files: Mapping[str, UploadedFile]) -> list[Upload]:
    """Read every upload and write it as Parquet in a fresh folder; nothing is left on failure."""
    if not pairs:
        return []
    folder = upload_root() / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        uploads = []
        for name, uri in pairs:
            path = folder / f"{name}.parquet"
            pq.write_table(read_table(read_bytes(uri, files)), path)
            uploads.append(Upload(name, path))
        return uploads
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def discard_uploads(uploads: Iterable[Upload]) -> None:
    for folder in {u.path.parent for u in uploads}:
        if folder.parent == upload_root():
            shutil.rmtree(folder, ignore_errors=True)
