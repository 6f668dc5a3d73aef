"""UPLOAD parameters and the conversion of uploaded VOTables and CSV files to Parquet."""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.tap.params import ParameterError
from apps.tap.uploads import discard_uploads, parse_upload_param, read_bytes, store_uploads

VOTABLE = b"""<?xml version="1.0"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>
<FIELD name="id" datatype="short"/><FIELD name="t" datatype="char" arraysize="*" xtype="timestamp"/>
<FIELD name="name" datatype="char" arraysize="*"/><FIELD name="mag" datatype="float"/>
<DATA><TABLEDATA><TR><TD>1</TD><TD>2000-01-21T04:48:00</TD><TD>alpha</TD><TD>12.5</TD></TR>
<TR><TD>2</TD><TD></TD><TD></TD><TD></TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"""


def test_it_reads_several_upload_pairs() -> None:
    assert parse_upload_param(["a,param:a;b,http://x/b.xml", "c,https://y/c"]) == [
        ("a", "param:a"), ("b", "http://x/b.xml"), ("c", "https://y/c")]
    for bad in (["a"], ["1a,param:x"], ["a,param:x;A,param:y"]):
        with pytest.raises(ParameterError):
            parse_upload_param(bad)


def test_it_refuses_uris_that_are_not_http_or_parts(settings: Any) -> None:
    for uri in ("file:///etc/passwd", "ftp://example.org/t.xml", "param:missing"):
        with pytest.raises(ParameterError):
            read_bytes(uri, {})
    settings.TAP_UPLOAD_MAX_BYTES = 10
    with pytest.raises(ParameterError, match="limit"):
        read_bytes("param:t", {"t": SimpleUploadedFile("t.csv", b"x\n" + b"1\n" * 20)})


def test_it_stores_a_votable_as_parquet_with_types_and_nulls(settings: Any) -> None:
    [upload] = store_uploads([("t", "param:t")], {"t": SimpleUploadedFile("t.xml", VOTABLE)})
    table = pq.read_table(upload.path)
    assert [str(f.type) for f in table.schema] == ["int16", "timestamp[ms]", "string", "float"]
    rows = table.to_pylist()
    assert rows[0] == {"id": 1, "t": dt.datetime(2000, 1, 21, 4, 48), "name": "alpha", "mag": 12.5}
    assert rows[1]["t"] is None and rows[1]["mag"] is None and rows[1]["name"] in (None, "")
    assert pathlib.Path(upload.path).is_relative_to(pathlib.Path(settings.VAR_DIR) / "uploads")
    discard_uploads([upload])
    assert not upload.path.parent.exists()


def test_it_stores_csv_and_leaves_nothing_behind_on_failure(settings: Any) -> None:
    [upload] = store_uploads([("c", "param:c")], {"c": SimpleUploadedFile("c.csv", b"id,ra\n1,10.5\n2,11.0\n")})
    assert pq.read_table(upload.path).to_pydict() == {"id": [1, 2], "ra": [10.5, 11.0]}
    with pytest.raises(ParameterError):
        store_uploads([("ok", "param:c"), ("bad", "param:none")], {"c": SimpleUploadedFile("c.csv", b"id\n1\n")})
    assert len(list((pathlib.Path(settings.VAR_DIR) / "uploads").iterdir())) == 1  # only the first, good one


def test_it_fetches_urls_only_from_public_hosts_or_the_portal_itself(settings: Any) -> None:
    settings.SITE_URL = "http://portal.example.org"
    for inside in ("http://127.0.0.1:5432/x", "http://localhost/x", "http://10.1.2.3/x", "http://169.254.169.254/latest"):
        with pytest.raises(ParameterError, match="public hosts"):
            read_bytes(inside, {})
    from apps.tap.uploads import check_host

    check_host("http://portal.example.org/tap/sync?QUERY=x")  # the portal itself: allowed without a lookup
    settings.TAP_UPLOAD_PRIVATE_HOSTS = True
    check_host("http://127.0.0.1:5432/x")


def test_it_reads_csv_types_nulls_and_quoted_names_like_a_table() -> None:
    from apps.tap.uploads import read_table

    table = read_table(b'id,"name, full",t,flag\n1,alpha,2000-01-21T04:48:00,true\n2,,,\n')
    assert [str(f.type) for f in table.schema] == ["int64", "string", "timestamp[ms]", "bool"]
    assert table.to_pylist()[1] == {"id": 2, "name, full": None, "t": None, "flag": None}
    assert read_table(b"a,b").num_rows == 0  # a header alone is an empty table
    assert read_table(b'"two\nlines",b\r\n1,2\r\n').column_names == ["two\nlines", "b"]


@pytest.mark.parametrize(("content", "reason"), [
    (b"a,A\n1,2\n", "appears twice"), (b"a,\n1,2\n", "needs a name"), (b'a"b,c\n1,2\n', "malformed"),
    (b"a,b\n1,2,3\n", "cannot be read"), (b"a\n\xff\xfe\n", "UTF-8"), (b"x," * (1 << 20), "longer than"),
])
def test_it_refuses_csv_it_cannot_read_with_the_reason(content: bytes, reason: str, settings: Any) -> None:
    from apps.tap.uploads import read_table

    settings.TAP_UPLOAD_MAX_COLUMNS = 10**7
    with pytest.raises(ParameterError, match=reason):
        read_table(content)


def test_it_refuses_a_votable_cell_that_does_not_convert_with_a_reason() -> None:
    from apps.tap.uploads import read_table

    with pytest.raises(ParameterError, match="cannot be converted"):
        read_table(VOTABLE.replace(b"2000-01-21T04:48:00", b"not a time"))
