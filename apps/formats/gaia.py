"""ECSV and the Gaia archive's JSON, a batch at a time.

ECSV 1.0 is CSV with a YAML header that types each column (what astropy's ``ascii.ecsv`` writes and
reads back with the same dtypes, units and descriptions). Arrays (geometries) are JSON lists in a string
column with an ECSV ``subtype``, as astropy writes multidimensional columns.

The JSON is the shape the Gaia archive returns and astroquery reads: ``{"metadata": [{name, datatype, xtype,
arraysize, description, unit, ucd, utype}, ...], "data": [[row], ...]}``; NaN becomes null (JSON has no NaN).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from .columns import ARRAY, BOOL, BYTES, CHAR, FLOAT, INT, ColumnPlan
from .text import csv_chunks

_ECSV_INT = {pa.int8(): "int8", pa.int16(): "int16", pa.int32(): "int32", pa.int64(): "int64", pa.uint8(): "uint8"}
_ECSV_FLOAT = {pa.float32(): "float32", pa.float64(): "float64"}


def _ecsv_column(p: ColumnPlan) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": p.name}
    if p.kind == INT:
        entry["datatype"] = _ECSV_INT.get(p.arrow_type, "int64")
    elif p.kind == FLOAT:
        entry["datatype"] = _ECSV_FLOAT.get(p.arrow_type, "float64")
    elif p.kind == BOOL:
        entry["datatype"] = "bool"
    else:
        entry["datatype"] = "string"
        if p.kind == ARRAY:  # a JSON list per row; "null" length: variable (polygons)
            entry["subtype"] = f"float64[{p.fixed_length if p.fixed_length else 'null'}]"
    if p.unit:
        entry["unit"] = p.unit
    if p.description:
        entry["description"] = p.description
    meta = {k: v for k, v in (("ucd", p.ucd), ("utype", p.utype), ("xtype", p.xtype)) if v}
    if meta:
        entry["meta"] = meta
    return entry


def ecsv_header(plans: Sequence[ColumnPlan], *, table_name: str = "", query: str | None = None) -> bytes:
    header: dict[str, Any] = {"delimiter": ",", "datatype": [_ecsv_column(p) for p in plans]}
    meta = {k: v for k, v in (("name", table_name), ("query", query)) if v}
    if meta:
        header["meta"] = meta
    header["schema"] = "astropy-2.0"
    text = yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=10**6)
    return ("# %ECSV 1.0\n# ---\n" + "".join(f"# {line}\n" for line in text.splitlines())).encode()


def _json_lists(arr: pa.Array) -> pa.Array:
    """A list column as JSON text ("[1.0, 2.0]"), null where the value is null."""
    joined = pc.binary_join(pc.cast(arr, pa.list_(pa.string())), ",")
    return pc.binary_join_element_wise("[", joined, "]", "")


def ecsv_chunks(batches: Iterator[list[pa.Array]], plans: Sequence[ColumnPlan], *, table_name: str = "",
                query: str | None = None) -> Iterator[bytes | pa.Buffer]:
    yield ecsv_header(plans, table_name=table_name, query=query)
    arrays = ([_ecsv_text(a, p) for a, p in zip(cols, plans, strict=True)] for cols in batches)
    # csv_chunks writes the names line (quoted, which ECSV readers accept), then the rows.
    text_plans = [_as_string(p) if p.kind in (ARRAY, BOOL) else p for p in plans]
    yield from csv_chunks(arrays, text_plans)


def _ecsv_text(arr: pa.Array, p: ColumnPlan) -> pa.Array:
    if p.kind == ARRAY:
        return _json_lists(arr)
    if p.kind == BOOL:  # ECSV's spelling; CSV's true/false is refused
        return pc.if_else(arr, "True", "False")
    return arr


def _as_string(p: ColumnPlan) -> ColumnPlan:
    return replace(p, kind=CHAR, arrow_type=pa.string())


# --- JSON ----------------------------------------------------------------------------

def _json_metadata(p: ColumnPlan) -> dict[str, Any]:
    return {"name": p.name, "datatype": p.datatype, "xtype": p.xtype, "arraysize": p.arraysize,
            "description": p.description or None, "unit": p.unit or None, "ucd": p.ucd or None, "utype": p.utype or None}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return list(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def json_chunks(batches: Iterator[list[pa.Array]], plans: Sequence[ColumnPlan]) -> Iterator[bytes | pa.Buffer]:
    metadata = json.dumps([_json_metadata(p) for p in plans], ensure_ascii=False)
    yield f'{{"metadata":\n{metadata},\n"data":\n['.encode()
    separator = ""
    for arrays in batches:  # in order, on this thread: the separator depends on what came before
        columns = [[_plain(v) for v in a.to_pylist()] if p.kind in (FLOAT, ARRAY, BYTES) else a.to_pylist()
                   for a, p in zip(arrays, plans, strict=True)]
        rows = [json.dumps(list(row), ensure_ascii=False, allow_nan=False, default=str) for row in zip(*columns, strict=True)]
        if rows:
            yield (separator + ",\n".join(rows)).encode()
            separator = ",\n"
    yield b"\n]}\n"
