"""One mapping of every engine's types to ADQL/VOTable datatypes.

Binary data is decided here once, for uploads, published tables and query
results alike: variable-length bytes are ADQL ``VARBINARY`` (arraysize ``*``),
fixed-length ones ``BINARY`` (arraysize = the width), as TAP 1.1 /
VODataService 1.3 list them; VOTable writes both as ``unsignedByte``
(apps/metadata/datatypes.py ``votable_type``).

All engines hand results over as Arrow, so the metadata of a result comes
from its Arrow schema (``column_from_arrow``) and is the same whichever
engine ran the query. ``introspect`` of the database engines maps their own
catalog type names with ``adql_from_native``; Arrow types for ingest come
from ``arrow_from_adql``.
"""

from __future__ import annotations

import re

import pyarrow as pa

from apps.adql import ColumnInfo

# ADQL datatype -> (xtype, fixed arraysize) for the geometry and time types.
GEOMETRY = {"POINT": ("point", "2"), "CIRCLE": ("circle", "3"), "POLYGON": ("polygon", "*")}


def column_from_arrow(field: pa.Field) -> ColumnInfo:
    """ADQL datatype, arraysize and xtype of an Arrow field.

    Arrays of numbers keep the element's datatype with ``arraysize='*'`` (or
    the fixed size); a field whose metadata carries ``xtype`` (geometries
    written by ``arrow_from_adql``) keeps it.
    """
    meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
    datatype, arraysize, xtype = _adql_of_arrow(field.type)
    if meta.get("xtype"):
        xtype = meta["xtype"]
        for name, (geo_xtype, size) in GEOMETRY.items():
            if geo_xtype == xtype:
                datatype, arraysize = name, size
    return ColumnInfo(field.name, datatype, arraysize=meta.get("arraysize", arraysize), xtype=xtype)


def columns_from_schema(schema: pa.Schema) -> tuple[ColumnInfo, ...]:
    return tuple(column_from_arrow(f) for f in schema)


def _adql_of_arrow(t: pa.DataType) -> tuple[str, str | None, str | None]:
    if pa.types.is_boolean(t):
        return "BOOLEAN", None, None
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "SMALLINT", None, None
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "INTEGER", None, None
    if pa.types.is_integer(t):
        return "BIGINT", None, None
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "REAL", None, None
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "DOUBLE", None, None
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "TIMESTAMP", None, "timestamp"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "VARCHAR", "*", None
    if pa.types.is_fixed_size_binary(t):
        return "BINARY", str(t.byte_width), None
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "VARBINARY", "*", None
    if pa.types.is_fixed_size_list(t):
        inner, _, _ = _adql_of_arrow(t.value_type)
        return inner, str(t.list_size), None
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner, _, _ = _adql_of_arrow(t.value_type)
        return inner, "*", None
    return "VARCHAR", "*", None  # anything else is handed over as text


# Native type names (lower case, without length) -> ADQL datatype.
_NATIVE = {
    "smallint": "SMALLINT", "int2": "SMALLINT", "tinyint": "SMALLINT", "short": "SMALLINT", "byte": "SMALLINT",
    "integer": "INTEGER", "int": "INTEGER", "int4": "INTEGER", "mediumint": "INTEGER",
    "bigint": "BIGINT", "int8": "BIGINT", "long": "BIGINT", "hugeint": "BIGINT",
    "real": "REAL", "float4": "REAL", "float": "REAL",
    "double precision": "DOUBLE", "double": "DOUBLE", "float8": "DOUBLE", "numeric": "DOUBLE", "decimal": "DOUBLE",
    "boolean": "BOOLEAN", "bool": "BOOLEAN", "bit": "BOOLEAN",
    "character": "CHAR", "char": "CHAR", "bpchar": "CHAR",
    "character varying": "VARCHAR", "varchar": "VARCHAR", "text": "VARCHAR", "string": "VARCHAR",
    "tinytext": "VARCHAR", "mediumtext": "VARCHAR", "longtext": "VARCHAR", "uuid": "VARCHAR", "json": "VARCHAR",
    "jsonb": "VARCHAR", "enum": "VARCHAR",
    "timestamp": "TIMESTAMP", "timestamp without time zone": "TIMESTAMP", "timestamp with time zone": "TIMESTAMP",
    "timestamptz": "TIMESTAMP", "datetime": "TIMESTAMP", "date": "TIMESTAMP", "timestamp_ntz": "TIMESTAMP",
    "bytea": "VARBINARY", "blob": "VARBINARY", "varbinary": "VARBINARY", "longblob": "VARBINARY",
    "mediumblob": "VARBINARY", "tinyblob": "VARBINARY", "binary": "BINARY",
    "spoint": "POINT", "scircle": "CIRCLE", "spoly": "POLYGON", "sbox": "POLYGON",
}


def adql_from_native(native: str) -> ColumnInfo:
    """An engine's type name as ADQL, e.g. ``character varying(20)`` ->
    VARCHAR/20, ``double precision[]`` or ``array<double>`` -> DOUBLE/*,
    ``spoint`` -> POINT; the column name is left empty for the caller."""
    text = native.strip().lower()
    array = False
    if text.endswith("[]"):
        array, text = True, text[:-2].strip()
    elif text.startswith("_"):  # PostgreSQL's internal array type names
        array, text = True, text[1:]
    elif text.startswith("array<") and text.endswith(">"):
        array, text = True, text[6:-1]
    match = re.match(r"^([a-z_ ]+?)\s*(?:\((\d+)(?:\s*,\s*\d+)?\))?(\s+unsigned)?(\s+with(?:out)? time zone)?$", text)
    base, length = (match.group(1), match.group(2)) if match else (text, None)
    if match and match.group(4):
        base = base + match.group(4)
    if base.startswith("decimal") or base.startswith("numeric"):
        base = "numeric"
    datatype = _NATIVE.get(base, "VARCHAR")
    if datatype == "SMALLINT" and base == "bit" and length not in (None, "1"):
        datatype = "BIGINT"
    if datatype == "BOOLEAN" and base == "bit":
        length = None
    if datatype == "REAL" and base == "float" and length is not None and int(length) > 24:
        datatype = "DOUBLE"
    if datatype in GEOMETRY:
        xtype, size = GEOMETRY[datatype]
        return ColumnInfo("", datatype, arraysize=size, xtype=xtype)
    if datatype == "TIMESTAMP":
        return ColumnInfo("", datatype, xtype="timestamp")
    if array:
        return ColumnInfo("", datatype, arraysize="*")
    if datatype == "CHAR":
        return ColumnInfo("", datatype, arraysize=length or "1")
    if datatype == "VARCHAR":
        return ColumnInfo("", datatype, arraysize=(length + "*") if length else "*")
    if datatype == "BINARY":
        return ColumnInfo("", datatype, arraysize=length or "1")
    if datatype in ("VARBINARY", "BLOB"):
        return ColumnInfo("", datatype, arraysize="*")
    return ColumnInfo("", datatype)


def arrow_from_adql(info: ColumnInfo) -> pa.Field:
    """The Arrow field that holds an ADQL column (geometries as DALI lists of
    degrees, marked with an ``xtype`` metadata entry)."""
    scalar = {
        "SMALLINT": pa.int16(), "INTEGER": pa.int32(), "BIGINT": pa.int64(), "REAL": pa.float32(),
        "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_(), "TIMESTAMP": pa.timestamp("us"),
        "CHAR": pa.string(), "VARCHAR": pa.string(), "CLOB": pa.string(), "BLOB": pa.binary(),
        "VARBINARY": pa.binary(), "BINARY": pa.binary(),
    }
    if info.datatype in GEOMETRY:
        return pa.field(info.name, pa.list_(pa.float64()), metadata={"xtype": GEOMETRY[info.datatype][0]})
    t = scalar.get(info.datatype, pa.string())
    if info.arraysize and info.datatype not in ("CHAR", "VARCHAR", "CLOB", "BLOB", "BINARY", "VARBINARY", "TIMESTAMP"):
        t = pa.list_(t)
    return pa.field(info.name, t)


def with_names(info: ColumnInfo, name: str, *, indexed: bool = False) -> ColumnInfo:
    return ColumnInfo(name, info.datatype, arraysize=info.arraysize, xtype=info.xtype, indexed=indexed)
