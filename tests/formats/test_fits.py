"""FITS binary tables read back by astropy and STIL, streamed or spooled."""

from __future__ import annotations

import glob
import io
import math
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from astropy.io import fits
from astropy.table import Table

from apps.adql import ColumnInfo as Column
from apps.formats import FORMATS, ResultInfo, RowCountMismatch, write

from . import sample
from .conftest import render


def hdu(document: bytes) -> fits.BinTableHDU:
    assert len(document) % 2880 == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # NULL logicals
        hdul = fits.open(io.BytesIO(document))
        hdul.verify("exception")
        return hdul[1]


@pytest.mark.filterwarnings("ignore:Column 'variable' contains NULL")
def test_it_writes_values_nulls_and_column_metadata() -> None:
    table = hdu(render("fits"))
    h = table.header
    assert h["EXTNAME"] == "result" and h["NAXIS2"] == 5
    assert [h[f"TFORM{i}"] for i in range(1, 6)] == ["K", "J", "I", "D", "E"]
    assert h["TNULL1"] == -(2**63) and h["TNULL2"] == -(2**31)
    assert h["TUNIT4"] == "deg" and h["TUCD4"] == "pos.eq.ra;meta.main" and h["TCOMM4"] == "Right ascension (ICRS)"
    assert h["TFORM10"] == "2D" and h["TFORM11"].startswith("PD")
    assert h["QUERY"] == "SELECT * FROM cat.src"
    t = Table.read(io.BytesIO(render("fits")), format="fits")
    assert list(t["id"].filled(-1)) == [1, 2, -1, 2**40, 5]
    assert t["n_obs"].mask[1] and t["quality"].mask[2]
    assert t["ra"][0] == 10.5 and math.isnan(np.ma.getdata(t["ra"])[1])  # NaN, which astropy masks
    assert str(t["ra"].unit) == "deg"
    assert list(t["name"][:2]) == ["M 31", "a <b> & 'c' \"d\""]
    assert t["obs_time"][1] == "2021-06-30T23:59:59.500000"
    assert list(t["pos"][0]) == [10.5, 41.25] and np.isnan(np.ma.getdata(t["pos"])[2]).all()
    assert list(t["footprint"][2]) == [10.0, 10.0, 11.0, 10.0, 11.0, 11.0, 10.0, 11.0] and len(t["footprint"][1]) == 0
    logical = fits.open(io.BytesIO(render("fits")), logical_as_bytes=True)[1].data["variable"]  # type: ignore[call-arg]
    assert list(logical) == [b"T", b"F", b"", b"T", b"F"]  # numpy shows the NUL byte (null) as b""


def test_it_is_read_by_stil_as_topcat_reads_it(stil_csv: Callable[[bytes, str], str]) -> None:
    lines = stil_csv(render("fits"), "fits").splitlines()
    assert lines[0] == "id,n_obs,quality,ra,mag,name,band,variable,obs_time,pos,footprint"
    assert lines[1].startswith("1,10,1,10.5,12.25,M 31,V,true,")
    assert lines[3].startswith(",30,,")
    assert lines[3].endswith('"(10.0, 10.0, 11.0, 10.0, 11.0, 11.0, 10.0, 11.0)"')


def test_it_streams_without_spooling_when_rows_and_widths_are_known(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_spool(*args: object, **kwargs: object) -> None:
        raise AssertionError("spooled although the layout was known")

    monkeypatch.setattr(tempfile, "mkstemp", no_spool)
    data = [b.select(["id", "ra", "band", "pos"]) for b in sample.batches()]
    columns = [sample.COLUMNS[0], sample.COLUMNS[3], sample.COLUMNS[6], sample.COLUMNS[9]]
    document = b"".join(write(FORMATS["fits"], data, columns, ResultInfo(total_rows=5)))
    t = Table.read(io.BytesIO(document), format="fits")
    assert list(t["band"].filled("")) == ["V", "R", "", "Ks", "g"] and t["ra"][4] == 0.1


def test_it_spools_to_a_temporary_file_and_deletes_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def spool_files() -> list[str]:
        return glob.glob(f"{tmp_path}/daiquiri-fits-*")

    def watched() -> Iterator[pa.RecordBatch]:
        for i, batch in enumerate(sample.batches()):
            if i:
                assert len(spool_files()) == 1  # unknown row count and VARCHAR(*) widths: spooled
            yield batch

    assert hdu(b"".join(write(FORMATS["fits"], watched(), sample.COLUMNS, ResultInfo()))).header["NAXIS2"] == 5
    assert spool_files() == []
    abandoned = write(FORMATS["fits"], sample.big_batches(100_000), [], ResultInfo())
    assert next(abandoned).startswith(b"SIMPLE  =")
    assert len(spool_files()) == 1
    abandoned.close()  # the client went away
    assert spool_files() == []


def test_it_refuses_a_wrong_announced_row_count() -> None:
    data = [b.select(["id"]) for b in sample.batches()]
    with pytest.raises(RowCountMismatch):
        b"".join(write(FORMATS["fits"], data, sample.COLUMNS[:1], ResultInfo(total_rows=4)))
    with pytest.raises(RowCountMismatch):
        b"".join(write(FORMATS["fits"], data, sample.COLUMNS[:1], ResultInfo(total_rows=6)))


def test_it_writes_an_empty_table_and_long_header_values() -> None:
    long_query = "SELECT " + ", ".join(f"column_{i}" for i in range(40)) + " FROM t"
    columns = [Column("x", "DOUBLE", description="A very long description " * 8), Column("s", "VARCHAR")]
    infos = [("job_id", "42"), ("THEAP", "1"), ("request_date", "2026-01-01")]
    document = b"".join(write(FORMATS["fits"], [], columns, ResultInfo(query=long_query, infos=infos)))
    h = hdu(document).header
    assert h["JOB_ID"] == "42" and "THEAP" not in h and "request_date = 2026-01-01" in str(h["COMMENT"])
    assert h["NAXIS2"] == 0 and h["TFORM2"] == "1A"
    assert h["QUERY"] == long_query and h["TCOMM1"].startswith("A very long description A very")


def test_it_writes_booleans_bytes_and_wide_text() -> None:
    data = [pa.record_batch({"b": pa.array([b"\x01\x02", None, b"\xff"], pa.binary()), "s": pa.array(["x" * 300, "y", None])})]
    t = Table.read(io.BytesIO(render("fits", data, [Column("b", "VARBINARY"), Column("s", "VARCHAR")])), format="fits")
    assert list(t["b"][0][:2]) == [1, 2] and t["s"][0] == "x" * 300 and t["s"].filled("")[2] == ""


def test_it_writes_ascii_text_as_fits_requires() -> None:
    data = [pa.record_batch({"s": pa.array(["Ångström", "ok"]), "u": pa.array(["日本", None])})]
    t = Table.read(io.BytesIO(render("fits", data, [Column("s", "VARCHAR"), Column("u", "NVARCHAR", arraysize="4*")])), format="fits")
    assert list(t["s"]) == ["?ngstr?m", "ok"] and t["u"][0] == "??"
