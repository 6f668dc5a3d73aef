"""Hostile tables sent by anonymous users: nothing on the server is read, nothing expensive is built.

Every probe goes through the real entry points: TAP sync and async (inline and by
URL) with the Django test client as an anonymous user, the ingest action, the
metadata import and the file previews. A "server file" is a file in this test's
folder holding SERVER_SECRET; a "server" on loopback records every request, so a
reader that follows a reference is caught even when it fails afterwards.
"""

from __future__ import annotations

import base64
import gzip
import http.server
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.formats.readers import ReaderError, without_paths

SERVER_SECRET = "k9server-only-secret-4f1c"  # the content of the server's file; never in a response
QUERY = "SELECT * FROM TAP_UPLOAD.t"


@pytest.fixture
def server_file(tmp_path: Path) -> Path:
    """A file on the server a reader must never open: a valid CSV and long enough for any fixed-size FIELD."""
    folder = tmp_path / "server-private"
    folder.mkdir()
    path = folder / "secret.csv"
    path.write_text("name\n" + "\n".join([SERVER_SECRET * 4] * 8) + "\n")
    return path


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []
    bodies: dict[str, bytes] = {}

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = self.bodies.get(self.path, (SERVER_SECRET * 8).encode())
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def inside() -> Iterator[type[_Recorder]]:
    """An HTTP server on loopback standing for the portal's own network; ``inside.url`` is its base."""
    handler = type("Recorder", (_Recorder,), {"hits": [], "bodies": {}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler
    server.shutdown()
    server.server_close()


def votable(data: str, fields: str = '<FIELD name="a" datatype="char" arraysize="64"/>', table: str = "", head: str = "") -> bytes:
    return (f'<?xml version="1.0"?>{head}<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE>'
            f"<TABLE{table}>{fields}<DATA>{data}</DATA></TABLE></RESOURCE></VOTABLE>").encode()


def post_upload(endpoint: str, content: bytes, **extra: str) -> Any:
    """As anonymous: the query over TAP_UPLOAD.t with ``content`` as the inline upload t."""
    data: dict[str, Any] = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": QUERY, "UPLOAD": "t,param:tfile",
                            "tfile": SimpleUploadedFile("t.xml", content), **extra}
    return Client().post(endpoint, data)


def body_of(response: Any) -> str:
    """The whole body, streamed or not (a streamed one is read to its end and closed)."""
    if not response.streaming:
        return str(response.content.decode("utf-8", "replace"))
    try:
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    finally:
        response.close()


def assert_refused(response: Any, reason: str, *forbidden: str) -> None:
    body = body_of(response)
    assert response.status_code == 400, body[:500]
    assert 'name="QUERY_STATUS" value="ERROR"' in body
    assert reason in body, body[:500]
    for text in (SERVER_SECRET, *forbidden):
        assert text not in body


ENDPOINTS = ["/tap/sync", "/tap/async"]


# --- a CSV whose content is a path ------------------------------------------------------------------

@pytest.mark.django_db
def test_a_csv_upload_that_is_a_path_is_read_as_text_and_no_file_is_opened(server_file: Path) -> None:
    """astropy took the upload for a file name: the server's file came back as the table, and a missing one
    answered with the server path in the error (an oracle for which files exist)."""
    existing = post_upload("/tap/sync", str(server_file).encode())
    missing = post_upload("/tap/sync", str(server_file.parent / "nothing-here.csv").encode())
    for response in (existing, missing):
        body = body_of(response)
        assert SERVER_SECRET not in body
        assert "No such file" not in body and "Errno" not in body
    assert existing.status_code == missing.status_code  # the answer does not tell whether the file exists


# --- VOTables that refer to something else ------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("serialization", ["BINARY", "BINARY2", "FITS"])
def test_a_votable_stream_pointing_at_a_server_file_is_refused(server_file: Path, endpoint: str, serialization: str) -> None:
    content = votable(f'<{serialization}><STREAM href="file://{server_file}"/></{serialization}>')
    assert_refused(post_upload(endpoint, content), "STREAM href", str(server_file))


@pytest.mark.django_db
def test_a_namespaced_or_relative_stream_reference_is_refused(server_file: Path) -> None:
    for stream in (f'<STREAM xmlns:x="http://www.w3.org/1999/xlink" x:href="file://{server_file}"/>',
                   f'<STREAM href="file:{server_file.name}"/>', f'<v:STREAM xmlns:v="urn:x" href="file://{server_file}"/>'):
        assert_refused(post_upload("/tap/sync", votable(f"<BINARY>{stream}</BINARY>")), "STREAM href", str(server_file))


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_votable_stream_pointing_inside_the_network_is_never_fetched(inside: Any, endpoint: str) -> None:
    content = votable(f'<BINARY><STREAM href="{inside.url}/internal-service"/></BINARY>')
    assert_refused(post_upload(endpoint, content), "STREAM href")
    assert inside.hits == []


@pytest.mark.django_db
@pytest.mark.parametrize("head", [
    '<!DOCTYPE VOTABLE [<!ENTITY x SYSTEM "file://{path}">]>',
    '<!DOCTYPE VOTABLE [<!ENTITY % p SYSTEM "{url}/dtd"> %p;]>',
    '<!DOCTYPE VOTABLE SYSTEM "{url}/dtd">',
    '<!DOCTYPE VOTABLE [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>',
])
def test_a_votable_with_a_doctype_is_refused_whatever_it_declares(server_file: Path, inside: Any, head: str) -> None:
    content = votable("<TABLEDATA><TR><TD>&x;</TD></TR></TABLEDATA>", head=head.format(path=server_file, url=inside.url))
    assert_refused(post_upload("/tap/sync", content), "DOCTYPE", str(server_file))
    assert inside.hits == []


@pytest.mark.django_db
def test_a_votable_with_xinclude_is_refused(server_file: Path) -> None:
    include = f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{server_file}" parse="text"/>'
    content = votable(f"<TABLEDATA><TR><TD>{include}</TD></TR></TABLEDATA>")
    assert_refused(post_upload("/tap/sync", content), "XInclude", str(server_file))


@pytest.mark.django_db
def test_an_upload_by_url_goes_through_the_same_checks(inside: Any, server_file: Path, settings: Any) -> None:
    settings.TAP_UPLOAD_PRIVATE_HOSTS = True  # the hostile table is served from loopback here
    inside.bodies["/evil.vot"] = votable(f'<BINARY><STREAM href="{inside.url}/internal-service"/></BINARY>')
    inside.bodies["/path.csv"] = str(server_file).encode()
    response = Client().post("/tap/sync", {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": QUERY, "UPLOAD": f"t,{inside.url}/evil.vot"})
    assert_refused(response, "STREAM href")
    assert inside.hits == ["/evil.vot"]
    response = Client().post("/tap/sync", {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": QUERY, "UPLOAD": f"t,{inside.url}/path.csv"})
    assert SERVER_SECRET not in body_of(response)


# --- small uploads that are expensive ---------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_csv_with_a_hundred_thousand_columns_is_refused_before_parsing(endpoint: str) -> None:
    """The review's million columns in 9.7 MB took minutes and 5.9 GB; a tenth of it shows the same thing."""
    content = (",".join(f"c{i}" for i in range(100_000)) + "\n" + ",".join("1" * 100_000) + "\n").encode()
    tracemalloc.start()
    try:
        response = post_upload(endpoint, content)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_refused(response, "more than 1000 columns")
    assert peak < 20 * len(content)  # astropy's parse held hundreds of times the upload


@pytest.mark.django_db
def test_the_column_and_cell_limits_are_settings(settings: Any) -> None:
    settings.TAP_UPLOAD_MAX_COLUMNS, settings.TAP_UPLOAD_MAX_CELLS = 3, 10
    assert_refused(post_upload("/tap/sync", b"a,b,c,d\n1,2,3,4\n"), "more than 3 columns")
    assert_refused(post_upload("/tap/sync", b"a,b\n" + b"1,2\n" * 6), "more than 10 cells")
    rows = "".join("<TR><TD>x</TD></TR>" for _ in range(11))
    assert_refused(post_upload("/tap/sync", votable(f"<TABLEDATA>{rows}</TABLEDATA>")), "more than 10 cells")
    fields = "".join(f'<FIELD name="c{i}" datatype="int"/>' for i in range(4))
    assert_refused(post_upload("/tap/sync", votable("<TABLEDATA/>", fields=fields)), "more than 3 columns")
    accepted = post_upload("/tap/sync", b"a,b\n1,2\n3,4\n", RESPONSEFORMAT="csv")
    assert accepted.status_code == 200 and body_of(accepted).splitlines()[1:] == ["1,2", "3,4"]


@pytest.mark.django_db
@pytest.mark.parametrize("nrows", ["2000000000", "+2000000000", " 2000000000 "])
def test_a_votable_declaring_billions_of_rows_is_refused_before_astropy_allocates_them(nrows: str) -> None:
    """astropy preallocates ``nrows`` rows: 2e9 rows of a 64-byte column asked it for 128 GB."""
    content = votable("<TABLEDATA><TR><TD>a</TD></TR></TABLEDATA>", table=f' nrows="{nrows}"')
    assert_refused(post_upload("/tap/sync", content), "cells")


@pytest.mark.django_db
@pytest.mark.parametrize("field", ['<FIELD name="a" datatype="double" arraysize="20000x10000"/>',
                                   '<FIELD name="a" datatype="char" arraysize="2000000000"/>'])
def test_a_field_declaring_a_huge_fixed_array_is_refused_before_astropy_allocates_it(field: str) -> None:
    """astropy allocates the declared size for every row (512 rows at first): a 200-byte upload hung a process."""
    assert_refused(post_upload("/tap/sync", votable("<TABLEDATA><TR><TD>1</TD></TR></TABLEDATA>", fields=field)), "MiB in memory")


@pytest.mark.django_db
def test_the_cell_limit_counts_every_table_of_the_document(settings: Any) -> None:
    """astropy reads all TABLEs, not only the first: many tables each under the limit add up."""
    settings.TAP_UPLOAD_MAX_CELLS = 1000
    table = '<TABLE nrows="600"><FIELD name="a" datatype="int"/><DATA><TABLEDATA/></DATA></TABLE>'
    content = votable("<TABLEDATA/>", fields='<FIELD name="a" datatype="int"/>').replace(b"</RESOURCE>", (table * 2).encode() + b"</RESOURCE>")
    assert_refused(post_upload("/tap/sync", content), "more than 1000 cells")


@pytest.mark.django_db
def test_a_binary_stream_is_bounded_by_the_rows_it_can_hold(settings: Any) -> None:
    settings.TAP_UPLOAD_MAX_CELLS = 1000
    stream = base64.b64encode(b"\x01" * 1001).decode()  # 1001 one-byte booleans
    content = votable(f'<BINARY><STREAM encoding="base64">{stream}</STREAM></BINARY>', fields='<FIELD name="b" datatype="unsignedByte"/>')
    assert_refused(post_upload("/tap/sync", content), "more than 1000 cells")
    stream = base64.b64encode(b"\x01" * 999).decode()
    content = votable(f'<BINARY><STREAM encoding="base64">{stream}</STREAM></BINARY>', fields='<FIELD name="b" datatype="unsignedByte"/>')
    accepted = post_upload("/tap/sync", content)
    assert accepted.status_code == 200 and body_of(accepted)


# --- ingest and metadata import -------------------------------------------------------------------

@pytest.mark.django_db
def test_ingest_refuses_a_votable_that_points_at_a_server_file(server_file: Path, tmp_path: Path) -> None:
    from apps.metadata.actions import do_ingest_file
    from apps.metadata.models import Table

    hostile = tmp_path / "incoming.vot"
    hostile.write_bytes(votable(f'<BINARY><STREAM href="file://{server_file}"/></BINARY>'))
    with pytest.raises(ValidationError, match="STREAM href") as caught:  # the reader's refusal, as the admin shows it
        do_ingest_file(None, hostile, schema="survey", table="stolen", engine="duckdb")
    assert SERVER_SECRET not in str(caught.value)
    assert not Table.objects.filter(name="stolen").exists()


@pytest.mark.django_db
def test_a_sidecar_or_imported_votable_is_checked_too(inside: Any, tmp_path: Path) -> None:
    """The sidecar of a CSV (and a metadata import) is parsed whole by astropy, data included."""
    from apps.metadata.actions import do_import_metadata, do_ingest_file

    hostile = votable(f'<BINARY><STREAM href="{inside.url}/internal-service"/></BINARY>')
    (tmp_path / "cat.csv").write_text("a\n1\n")
    (tmp_path / "cat.vot").write_bytes(hostile)
    with pytest.raises(ValidationError, match="STREAM href"):
        do_ingest_file(None, tmp_path / "cat.csv", schema="survey", table="cat", engine="duckdb")
    (tmp_path / "cat.vot").unlink()
    table = do_ingest_file(None, tmp_path / "cat.csv", schema="survey", table="cat", engine="duckdb")
    (tmp_path / "import.vot").write_bytes(hostile)
    with pytest.raises(ReaderError, match="STREAM href"):
        do_import_metadata(None, table, str(tmp_path / "import.vot"))
    assert inside.hits == []


# --- previews of files in volumes -----------------------------------------------------------------

@pytest.fixture
def volume(settings: Any, tmp_path: Path, users: Any) -> Any:
    from apps.files.actions import do_create_volume, do_sync_roots
    from tests.files.conftest import configure_roots

    configure_roots(settings, tmp_path / "files", quota=10**9)
    roots = {r.name: r for r in do_sync_roots()}
    return do_create_volume(users.owner, roots["Storage"], "previews")


def _preview(users: Any, volume: Any, name: str) -> dict[str, Any]:
    client = Client()
    client.force_login(users.owner)
    response = client.get(f"/files/api/volumes/{volume.pk}/preview/", {"path": name})
    assert response.status_code == 200
    return dict(response.json())


def test_a_hostile_votable_in_a_volume_is_previewed_as_its_own_text(users: Any, volume: Any, server_file: Path, inside: Any) -> None:
    (volume.directory / "evil.vot").write_bytes(votable(f'<BINARY><STREAM href="file://{server_file}"/></BINARY>'))
    (volume.directory / "evil.xml").write_bytes(votable(f'<BINARY><STREAM href="{inside.url}/internal-service"/></BINARY>'))
    for name in ("evil.vot", "evil.xml"):
        preview = _preview(users, volume, name)
        assert preview["kind"] == "text" and "STREAM" in preview["text"]
        assert SERVER_SECRET not in str(preview)
    assert inside.hits == []


def test_a_gzip_bomb_named_fits_is_not_unpacked_in_the_web_process(users: Any, volume: Any) -> None:
    """200 MB of zeros in a 200 kB .fits.gz (or .fits: astropy sniffs gzip) made the preview load it all."""
    rows = 25_000_000
    header = fits.BinTableHDU.from_columns([fits.Column(name="z", format="K", array=np.zeros(1, dtype=np.int64))]).header
    header["NAXIS2"] = rows
    for name in ("bomb.fits.gz", "bomb.fits"):
        with gzip.open(volume.directory / name, "wb", compresslevel=1) as packed:
            packed.write(fits.PrimaryHDU().header.tostring().encode() + header.tostring().encode())
            for _ in range(25):
                packed.write(bytes(8 * rows // 25))
        tracemalloc.start()
        try:
            preview = _preview(users, volume, name)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert preview["kind"] == "error" and "too large to preview" in preview["message"]
        assert peak < 8 * rows / 2  # at most the 64 MiB unpacking bound, not the 200 MB table


def test_a_small_gzip_fits_file_is_still_previewed(users: Any, volume: Any) -> None:
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column(name="x", format="D", array=np.arange(3.0))])])
    with gzip.open(volume.directory / "small.fits.gz", "wb") as packed:
        hdus.writeto(packed)
    preview = _preview(users, volume, "small.fits.gz")
    assert preview["kind"] == "fits" and preview["hdus"][1]["table"]["rows"] == [["0.0"], ["1.0"], ["2.0"]]


def test_reader_errors_name_no_server_path() -> None:
    message = "[Errno 2] No such file or directory: '/srv/daiquiri/var/uploads/abc/t.parquet' (see http://x.org/a/b, 5 km/s)"
    assert without_paths(message) == "[Errno 2] No such file or directory: '<path>' (see http://x.org/a/b, 5 km/s)"


def test_a_parquet_file_pointing_at_another_file_is_not_followed(users: Any, volume: Any, tmp_path: Path) -> None:
    """Parquet column chunks may name another file (``file_path``); pyarrow must read only the file given."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    elsewhere = tmp_path / "server-private-table.parquet"
    pq.write_table(pa.table({"a": [SERVER_SECRET]}), elsewhere)
    metadata = pq.ParquetFile(elsewhere).metadata
    metadata.set_file_path(str(elsewhere))
    metadata.write_metadata_file(volume.directory / "pointer.parquet")
    preview = _preview(users, volume, "pointer.parquet")
    assert SERVER_SECRET not in str(preview) and str(elsewhere) not in str(preview)
