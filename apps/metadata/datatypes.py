"""Column types between Arrow (files, engines), ADQL (metadata) and VOTable (TAP_SCHEMA, VOSI)."""

from __future__ import annotations

import pyarrow as pa

from workers.engines.types import column_from_arrow


def adql_type(arrow: pa.DataType) -> tuple[str, str]:
    """(ADQL datatype, arraysize) of an Arrow column type: the one mapping of workers/engines/types.py."""
    column = column_from_arrow(pa.field("column", arrow))
    return column.datatype, column.arraysize or ""


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
