"""Column plans: one VOTable type per result column, and the Arrow type its data is cast to.

Every writer works from the same plan so that a column is a ``long`` in the
VOTable, a ``K`` in FITS and an ``int64`` in Parquet alike. The plan is made
from the ADQL metadata and, when there is data, the Arrow type the engine
produced: for numbers the data wins (an engine knows whether COUNT(*) is
64-bit), for geometries, timestamps, booleans and strings the ADQL type says
what the values mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from apps.adql.catalog import ColumnInfo  # the project's one column type: what the writers take

# Kinds drive the encoders; VOTable datatypes are what the document declares.
BOOL, INT, FLOAT, CHAR, UNICODE, BYTES, ARRAY = "bool", "int", "float", "char", "unicode", "bytes", "array"

_INT_ARROW = {"short": pa.int16(), "int": pa.int32(), "long": pa.int64()}
_FLOAT_ARROW = {"float": pa.float32(), "double": pa.float64()}
_NUMERIC_ARROW = {**_INT_ARROW, **_FLOAT_ARROW, "unsignedByte": pa.uint8()}
# Null sentinels for integer columns where the serialisation has no null flag (BINARY, FITS TNULLn).
INT_NULL = {"unsignedByte": 255, "short": -(2**15), "int": -(2**31), "long": -(2**63)}

_GEOMETRY = {"POINT": ("point", "2"), "CIRCLE": ("circle", "3"), "POLYGON": ("polygon", "*"), "BOX": ("polygon", "8")}
_ADQL_SCALAR = {
    "SMALLINT": "short", "INTEGER": "int", "INT": "int", "BIGINT": "long", "REAL": "float", "FLOAT": "double",
    "DOUBLE": "double", "DOUBLE PRECISION": "double", "BOOLEAN": "boolean", "BIT": "boolean",
    # Already VOTable names (TAP_SCHEMA may store those).
    "SHORT": "short", "LONG": "long", "UNSIGNEDBYTE": "unsignedByte",
}
_ADQL_STRING = {"CHAR", "VARCHAR", "CLOB", "TEXT", "STRING", "REGION", "TIMESTAMP", "DATE", "TIME"}
_ADQL_UNICODE = {"UNICODECHAR", "NCHAR", "NVARCHAR", "NCLOB", "NTEXT"}
_ADQL_BYTES = {"BINARY", "VARBINARY", "BLOB"}


@dataclass(frozen=True)
class ColumnPlan:
    """How one result column is written: the column itself (name, unit, UCD, utype, description), and the
    VOTable type and Arrow type its values take, which may differ from the column's declared (ADQL) ones."""

    column: ColumnInfo
    datatype: str  # VOTable datatype
    arraysize: str | None  # VOTable arraysize
    xtype: str | None
    kind: str  # BOOL, INT, FLOAT, CHAR, UNICODE, BYTES, ARRAY
    arrow_type: pa.DataType  # each batch's column is cast to this

    @property
    def name(self) -> str:
        return self.column.name

    @property
    def unit(self) -> str:
        return self.column.unit

    @property
    def ucd(self) -> str:
        return self.column.ucd

    @property
    def utype(self) -> str:
        return self.column.utype

    @property
    def description(self) -> str:
        return self.column.description

    @property
    def fixed_length(self) -> int | None:
        """The element count of a fixed arraysize ("2", "3x2" is not used here), else None."""
        if self.arraysize and self.arraysize.isdigit():
            return int(self.arraysize)
        return None

    @property
    def element_datatype(self) -> str:
        return self.datatype


def _adql_base(datatype: str) -> str:
    base = (datatype or "").strip().upper()
    return base.split("(", 1)[0].strip()


def _arraysize_from_adql(datatype: str, arraysize: str | None) -> str:
    if arraysize:
        return arraysize
    if "(" in datatype and datatype.upper().startswith("CHAR"):
        n = datatype.split("(", 1)[1].rstrip(") ").strip()
        if n.isdigit():
            return n
    return "*"


def _numeric_datatype(t: pa.DataType) -> str | None:
    """The VOTable datatype that holds every value of an Arrow numeric type."""
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "short"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "int"
    if pa.types.is_integer(t):
        return "long"  # uint64 beyond 2**63 fails the cast loudly rather than wrap
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "float"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "double"
    return None


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_list_view(t)


def plan_column(col: ColumnInfo, arrow_type: pa.DataType | None) -> ColumnPlan:
    base = _adql_base(col.datatype)
    column = _described(col)
    known = arrow_type is not None and not pa.types.is_null(arrow_type)

    def scalar(votype: str) -> ColumnPlan:
        kind = BOOL if votype == "boolean" else FLOAT if votype in _FLOAT_ARROW else INT
        at = pa.bool_() if votype == "boolean" else _NUMERIC_ARROW[votype]
        return ColumnPlan(datatype=votype, arraysize=None, xtype=col.xtype or None, kind=kind, arrow_type=at, column=column)

    def string(kind: str, arraysize: str, xtype: str | None) -> ColumnPlan:
        return ColumnPlan(datatype="unicodeChar" if kind == UNICODE else "char", arraysize=arraysize, xtype=xtype,
                          kind=kind, arrow_type=pa.string(), column=column)

    # The ADQL type fixes the meaning of geometries, timestamps and booleans.
    if base in _GEOMETRY:
        xtype, size = _GEOMETRY[base]
        return ColumnPlan(datatype="double", arraysize=col.arraysize or size, xtype=col.xtype or xtype, kind=ARRAY,
                          arrow_type=pa.list_(pa.float64()), column=column)
    if base in ("TIMESTAMP", "DATE") or (known and (pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type))):
        return string(CHAR, "*", col.xtype or "timestamp")
    if base in ("BOOLEAN", "BIT") and (not known or _numeric_datatype(arrow_type) is not None):
        return scalar("boolean")
    if base in _ADQL_UNICODE or (col.datatype or "").strip() == "unicodeChar":
        return string(UNICODE, _arraysize_from_adql(col.datatype, col.arraysize), col.xtype)
    if known:
        assert arrow_type is not None
        numeric = _numeric_datatype(arrow_type)
        if numeric is not None:
            if numeric != "boolean" and base in _ADQL_SCALAR and _ADQL_SCALAR[base] != "boolean":
                numeric = _wider(numeric, _ADQL_SCALAR[base])
            return scalar(numeric)
        if _is_list(arrow_type):
            return _plan_array(column, arrow_type)
        if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type) or pa.types.is_fixed_size_binary(arrow_type):
            size = str(arrow_type.byte_width) if pa.types.is_fixed_size_binary(arrow_type) else (col.arraysize or "*")
            return ColumnPlan(datatype="unsignedByte", arraysize=size, xtype=col.xtype or None, kind=BYTES, arrow_type=pa.binary(), column=column)
        # Strings, times and anything exotic travel as text.
        return string(CHAR, _arraysize_from_adql(col.datatype, col.arraysize) if base in ("CHAR", "VARCHAR") else (col.arraysize or "*"),
                      _text_xtype(col, base))
    if base in _ADQL_SCALAR:
        return scalar(_ADQL_SCALAR[base])
    if base in _ADQL_BYTES:
        return ColumnPlan(datatype="unsignedByte", arraysize=col.arraysize or "*", xtype=col.xtype or None, kind=BYTES, arrow_type=pa.binary(), column=column)
    return string(CHAR, _arraysize_from_adql(col.datatype, col.arraysize), _text_xtype(col, base))


def _described(col: ColumnInfo) -> ColumnInfo:
    """``col`` with empty text where its unit, UCD, utype or description is missing (None from loose metadata)."""
    if all(text is not None for text in (col.unit, col.ucd, col.utype, col.description)):
        return col
    return replace(col, unit=col.unit or "", ucd=col.ucd or "", utype=col.utype or "", description=col.description or "")


def _text_xtype(col: ColumnInfo, base: str) -> str | None:
    return col.xtype or ("adql:REGION" if base == "REGION" else None)


_RANK = {"short": 0, "int": 1, "long": 2, "float": 3, "double": 4}


def _wider(a: str, b: str) -> str:
    """Of the data's type and the declared one, the one holding both (int data in a DOUBLE column stays double)."""
    if a in _RANK and b in _RANK:
        if {a, b} == {"long", "float"}:
            return "double"
        return a if _RANK[a] >= _RANK[b] else b
    return a


def _plan_array(col: ColumnInfo, arrow_type: pa.DataType) -> ColumnPlan:
    element = _numeric_datatype(arrow_type.value_type) or "double"
    if element == "boolean":
        element = "short"  # boolean arrays are rare; as 0/1 they stay readable everywhere
    size = str(arrow_type.list_size) if pa.types.is_fixed_size_list(arrow_type) else (col.arraysize or "*")
    return ColumnPlan(datatype=element, arraysize=size, xtype=col.xtype or None, kind=ARRAY,
                      arrow_type=pa.list_(_NUMERIC_ARROW[element]), column=col)


def make_plans(columns: Sequence[ColumnInfo], first: pa.RecordBatch | None) -> list[ColumnPlan]:
    """One plan per result column, from the metadata and the first batch (None for an empty result).

    Without matching metadata (native queries) the schema alone decides. VOTable 1.4 ``char`` is ASCII:
    a text column whose first batch holds other characters becomes ``unicodeChar``; non-ASCII text in
    later batches of a ``char`` column is written as '?' (declare such columns unicodeChar to be sure).
    """
    schema = first.schema if first is not None else None
    if schema is not None and len(columns) != len(schema):
        columns = [ColumnInfo(name=f.name) for f in schema]
    plans = [plan_column(c, schema.field(i).type if schema is not None else None) for i, c in enumerate(columns)]
    if first is not None:
        plans = [_unicode_if_needed(p, first.column(i)) for i, p in enumerate(plans)]
    return plans


def _unicode_if_needed(plan: ColumnPlan, arr: pa.Array) -> ColumnPlan:
    if plan.kind != CHAR or plan.xtype or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return plan
    if len(arr) == 0 or pc.all(pc.string_is_ascii(arr)).as_py() is not False:
        return plan
    return replace(plan, kind=UNICODE, datatype="unicodeChar")


def unique_names(plans: Sequence[ColumnPlan]) -> list[ColumnPlan]:
    """The plans with repeated names suffixed (x, x_2): Parquet and FITS readers look columns up by name."""
    seen: set[str] = set()
    out = []
    for p in plans:
        name, n = p.name, 1
        while name in seen:
            n += 1
            name = f"{p.name}_{n}"
        seen.add(name)
        out.append(p if name == p.name else replace(p, column=replace(p.column, name=name)))
    return out


def schema_of(plans: Sequence[ColumnPlan]) -> pa.Schema:
    return pa.schema([pa.field(p.name, p.arrow_type) for p in plans])


# ---- casting each batch to its plan ----------------------------------------


def _geometry_from_text(arr: pa.Array) -> pa.Array:
    """Geometry given as text ("1 2", "(1, 2)", "{1,2,3}") becomes a list of doubles, vectorised."""
    s = pc.replace_substring_regex(pc.cast(arr, pa.string()), r"[(){}<>\[\]dD]", "")
    s = pc.utf8_trim_whitespace(s)
    parts = pc.split_pattern_regex(s, r"[\s,]+")
    return pc.cast(parts, pa.list_(pa.float64()))


def compact_lists(arr: pa.Array) -> pa.Array:
    """The same lists with offsets from 0 and null entries empty, so offsets and ``list_flatten`` agree."""
    counts = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False).astype(np.int32)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts, dtype=np.int32)]).astype(np.int32))
    mask = pc.is_null(arr) if arr.null_count else None
    return pa.ListArray.from_arrays(offsets, pc.list_flatten(arr), type=arr.type, mask=mask)


def conform(arr: pa.Array, plan: ColumnPlan) -> pa.Array:
    """Cast one column of a batch to ``plan.arrow_type`` (timestamps to DALI ISO text, geometries to lists)."""
    t = arr.type
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if t == plan.arrow_type:
        return compact_lists(arr) if plan.kind == ARRAY else arr
    if pa.types.is_null(t):
        return pa.nulls(len(arr), plan.arrow_type)
    if plan.kind in (CHAR, UNICODE):
        if pa.types.is_timestamp(t):
            if t.tz is not None:
                arr = pc.cast(arr, pa.timestamp(t.unit))  # the UTC instant, as DALI wants
            fmt = "%Y-%m-%dT%H:%M:%S"  # %S carries the fraction for sub-second units
            return pc.strftime(arr, format=fmt)
        if pa.types.is_date(t):
            return pc.strftime(arr, format="%Y-%m-%d")
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return pc.cast(arr, pa.string())
        if _is_list(t):
            return pc.binary_join(pc.cast(arr, pa.list_(pa.string())), " ")
        try:
            return pc.cast(arr, pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            # Structs, maps, intervals...: rare enough for a per-value fallback.
            return pa.array([None if v is None else str(v) for v in arr.to_pylist()], pa.string())
    if plan.kind == ARRAY:
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            arr = _geometry_from_text(arr)
        return compact_lists(pc.cast(arr, plan.arrow_type))
    if plan.kind == BOOL and not pa.types.is_boolean(t):
        return pc.not_equal(arr, pa.scalar(0, t)) if _numeric_datatype(t) else pc.cast(arr, pa.bool_())
    return pc.cast(arr, plan.arrow_type)


def conform_batch(batch: pa.RecordBatch, plans: Sequence[ColumnPlan]) -> list[pa.Array]:
    return [conform(batch.column(i), p) for i, p in enumerate(plans)]
