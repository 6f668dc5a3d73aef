"""CSV and TSV read back by astropy."""

from __future__ import annotations

import io

import pyarrow as pa
import pytest
from astropy.table import Table

from apps.adql import ColumnInfo as Column

from .conftest import render


def test_it_writes_rfc4180_csv_with_a_header_and_empty_nulls() -> None:
    document = render("csv")
    assert document.startswith(b'"id","n_obs","quality","ra","mag","name","band","variable","obs_time","pos","footprint"\n')
    t = Table.read(io.BytesIO(document), format="ascii.csv")
    assert list(t["id"].filled(-1)) == [1, 2, -1, 2**40, 5]
    assert t["n_obs"].mask[1] and t["quality"].mask[2]
    assert t["ra"][0] == 10.5 and t["ra"].mask[1]
    assert t["name"][1] == "a <b> & 'c' \"d\"" and t["name"][4] == "tab\there"
    assert t["obs_time"][0] == "2020-01-02T03:04:05.000000"
    assert t["pos"][0] == "10.5 41.25" and t["footprint"][2] == "10 10 11 10 11 11 10 11"


def test_it_quotes_separators_and_line_breaks_in_csv() -> None:
    data = [pa.record_batch({"s": pa.array(['a,b', 'line\nbreak', 'q"uote', None]), "n": pa.array([1, 2, 3, 4])})]
    t = Table.read(io.BytesIO(render("csv", data, [Column("s", "VARCHAR"), Column("n", "INTEGER")])), format="ascii.csv")
    assert list(t["s"][:3]) == ["a,b", "line\nbreak", 'q"uote'] and t["s"].mask[3]


def test_it_writes_tsv_without_tabs_or_line_breaks_in_values() -> None:
    data = [pa.record_batch({"s": pa.array(["a\tb", "c\nd", 'q"uote', None]), "x": pa.array([1.5, None, 2.0, 3.0])})]
    document = render("tsv", data, [Column("s", "VARCHAR"), Column("x", "DOUBLE")])
    lines = document.decode().split("\n")
    assert lines[:5] == ["s\tx", "a b\t1.5", "c d\t", 'q"uote\t2', "\t3"]
    t = Table.read(io.BytesIO(render("tsv")), format="ascii.tab")
    assert list(t["id"].filled(-1)) == [1, 2, -1, 2**40, 5]
    assert t["name"][4] == "tab here" and t["variable"][0] == "true"


def test_it_writes_only_a_header_for_an_empty_result() -> None:
    assert render("csv", [], [Column("a", "INTEGER"), Column("b", "VARCHAR")]) == b'"a","b"\n'
    assert render("tsv", [], [Column("a", "INTEGER"), Column("b", "VARCHAR")]) == b"a\tb\n"


def test_it_keeps_unicode_in_csv_and_tsv() -> None:
    data = [pa.record_batch({"s": pa.array(["Ångström", "日本"]), "n": pa.array([1, 2])})]
    columns = [Column("s", "VARCHAR"), Column("n", "INTEGER")]
    assert list(Table.read(io.BytesIO(render("csv", data, columns)), format="ascii.csv")["s"]) == ["Ångström", "日本"]
    assert "Ångström\t1\n日本\t2\n" in render("tsv", data, columns).decode()


def test_it_writes_the_same_text_on_several_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.formats import parallel
    from apps.formats.bench import generate_batches

    data = list(generate_batches(40_000, batch_rows=20_000))
    serial = {key: render(key, data, []) for key in ("csv", "tsv", "votable-td")}
    monkeypatch.setattr(parallel, "WORKERS", 3)
    monkeypatch.setattr(parallel, "MIN_SLICE_ROWS", 1000)
    for key, expected in serial.items():
        assert render(key, data, []) == expected, key
    sample_rows = render("votable-td", None)  # lists and nulls across slices
    monkeypatch.setattr(parallel, "MIN_SLICE_ROWS", 1)
    assert render("votable-td", None) == sample_rows
