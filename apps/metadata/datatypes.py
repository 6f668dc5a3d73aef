"""Column types between Arrow (files, engines), ADQL (metadata) and VOTable (TAP_SCHEMA, VOSI)."""

from __future__ import annotations

import pyarrow as pa


def adql_type(arrow: pa.DataType) -> tuple[str, str]:
    """(ADQL datatype, arraysize) of an Arrow column type."""
    if pa.types.is_boolean(arrow):
        return "BOOLEAN", ""
    if pa.types.is_int8(arrow) or pa.types.is_int16(arrow) or pa.types.is_uint8(arrow):
        return "SMALLINT", ""
    if pa.types.is_int32(arrow) or pa.types.is_uint16(arrow):
        return "INTEGER", ""
    if pa.types.is_integer(arrow):
        return "BIGINT", ""
    if pa.types.is_float16(arrow) or pa.types.is_float32(arrow):
        return "REAL", ""
    if pa.types.is_floating(arrow) or pa.types.is_decimal(arrow):
        return "DOUBLE", ""
    if pa.types.is_timestamp(arrow) or pa.types.is_date(arrow):
        return "TIMESTAMP", ""
    if pa.types.is_binary(arrow) or pa.types.is_large_binary(arrow):
        return "VARBINARY", "*"
    if pa.types.is_fixed_size_binary(arrow):
        return "BINARY", str(arrow.byte_width)
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow) or pa.types.is_fixed_size_list(arrow):
        inner, _ = adql_type(arrow.value_type)
        size = str(arrow.list_size) if pa.types.is_fixed_size_list(arrow) else "*"
        return inner, size
    return "VARCHAR", "*"


# ADQL datatype -> (VOTable datatype, default arraysize, xtype) for TAP_SCHEMA and VOSI.
_VOTABLE = {
    "BOOLEAN": ("boolean", None, None),
    "SMALLINT": ("short", None, None),
    "INTEGER": ("int", None, None),
    "BIGINT": ("long", None, None),
    "REAL": ("float", None, None),
    "DOUBLE": ("double", None, None),
    "CHAR": ("char", "1", None),
    "VARCHAR": ("char", "*", None),
    "CLOB": ("char", "*", "clob"),
    "TIMESTAMP": ("char", "*", "timestamp"),
    "BINARY": ("unsignedByte", "1", None),
    "VARBINARY": ("unsignedByte", "*", None),
    "BLOB": ("unsignedByte", "*", "blob"),
    "POINT": ("double", "2", "point"),
    "CIRCLE": ("double", "3", "circle"),
    "POLYGON": ("double", "*", "polygon"),
    "REGION": ("char", "*", "adql:REGION"),
}


def votable_type(datatype: str, arraysize: str = "", xtype: str = "") -> tuple[str, str | None, str | None]:
    """(datatype, arraysize, xtype) as VOTable/TAP 1.1 writes them."""
    vo, size, default_xtype = _VOTABLE.get(datatype.upper(), ("char", "*", None))
    return vo, (arraysize or size), (xtype or default_xtype)


_FROM_VOTABLE = {"boolean": "BOOLEAN", "bit": "BOOLEAN", "unsignedByte": "SMALLINT", "short": "SMALLINT", "int": "INTEGER",
                 "long": "BIGINT", "float": "REAL", "double": "DOUBLE", "char": "VARCHAR", "unicodeChar": "VARCHAR",
                 "floatComplex": "VARCHAR", "doubleComplex": "VARCHAR"}


def adql_from_votable(datatype: str, arraysize: str | None, xtype: str | None) -> str:
    """The ADQL type of a VOTable FIELD (sidecar metadata)."""
    x = (xtype or "").lower()
    if x in {"timestamp", "point", "circle", "polygon"}:
        return x.upper()
    base = _FROM_VOTABLE.get(datatype, "VARCHAR")
    if base == "VARCHAR" and arraysize and arraysize.isdigit():
        return "CHAR"
    return base
