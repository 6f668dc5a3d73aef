"""A source's columns are found by a lookup (not a scan of every column per reference), with ADQL's case rules."""

from __future__ import annotations

from apps.adql import ColumnInfo
from apps.adql.ast import Ident
from apps.adql.inference import Col
from apps.adql.translate import Source


def col(name: str) -> Col:
    return Col(name, ColumnInfo(name, "DOUBLE"))


def test_a_regular_name_finds_any_case_and_a_delimited_one_only_its_own() -> None:
    source = Source("s", False, None, "s", [col("RA"), col("ra"), col("Dec")])
    assert [c.name for c in source.columns_named(Ident("Ra", False))] == ["RA", "ra"]
    assert [c.name for c in source.columns_named(Ident("ra", True))] == ["ra"]
    assert source.columns_named(Ident("mag", False)) == []


def test_columns_added_after_a_lookup_are_found() -> None:
    cols = [col("a")]
    source = Source("s", False, None, "s", cols)
    assert source.columns_named(Ident("b", False)) == []
    cols.append(col("b"))
    assert [c.name for c in source.columns_named(Ident("B", False))] == ["b"]
    assert Source("t", False, None, "t", None).columns_named(Ident("a", False)) == []
