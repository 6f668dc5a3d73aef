"""The type of every ADQL expression, from the resolved tree: the translator resolves
each column reference (``ColumnRef.column``) and asks here what an expression yields;
the emitted SQL casts to these types so that every engine answers alike."""

from __future__ import annotations

from dataclasses import dataclass

from . import ast as A
from . import semantics as S
from .catalog import Catalog, ColumnInfo
from .stcs import Shape, parse_region
from .udfs import builtin

_GEO_XTYPE = {"POINT": ("point", "2"), "CIRCLE": ("circle", "3"), "POLYGON": ("polygon", "*"),
              "BOX": ("polygon", "8")}


@dataclass
class Col:
    name: str  # the name in the engine (catalog spelling or our output alias)
    out: ColumnInfo
    aggregate_sql: str | None = None  # a selected aggregate's SQL, for ORDER BY on MariaDB


def typed(datatype: str, arraysize: str | None = None) -> ColumnInfo:
    if datatype.endswith("[]"):  # an array type, as TAPRegExt writes it (INTEGER[])
        return ColumnInfo("", datatype[:-2], "*")
    if datatype in _GEO_XTYPE:
        xtype, size = _GEO_XTYPE[datatype]
        return ColumnInfo("", datatype if datatype != "BOX" else "POLYGON", size, xtype)
    return ColumnInfo("", datatype, arraysize)


class TypeInference:
    """Datatype, size, unit and UCD of expressions whose column references are resolved."""

    def __init__(self, catalog: Catalog | None) -> None:
        self.catalog = catalog

    def of(self, e: A.Expr) -> ColumnInfo:
        while isinstance(e, A.Paren):
            e = e.inner
        if isinstance(e, A.ColumnRef):
            if isinstance(e.column, Col):
                return e.column.out
            return ColumnInfo("", "UNKNOWN")
        if isinstance(e, A.Literal):
            return ColumnInfo("", {"int": "BIGINT", "hex": "BIGINT", "num": "DOUBLE",
                                     "str": "VARCHAR", "null": "UNKNOWN"}[e.kind],
                                "*" if e.kind == "str" else None)
        if isinstance(e, A.Cast):
            return typed(e.type, "*" if e.type == "VARCHAR" else (
                str(e.length) if e.length else None))
        if isinstance(e, A.Geom) or (isinstance(e, A.Func) and e.name == "CENTROID"):
            kind = e.name if isinstance(e, A.Geom) else "POINT"
            if kind == "REGION" and isinstance(e, A.Geom) and isinstance(e.args[0], A.Literal):
                region = parse_region(e.args[0].value)
                if isinstance(region, Shape):
                    kind = {"POSITION": "POINT", "BOX": "BOX"}.get(region.kind, region.kind)
            return typed(kind)
        if isinstance(e, A.Func):
            return self.func(e)
        if isinstance(e, A.Binary):
            return self.binary(e)
        if isinstance(e, A.Unary):
            return self.of(e.operand)
        if isinstance(e, A.Case):
            results = [r for _, r in e.whens] + ([e.default] if e.default is not None else [])
            types = [self.of(r) for r in results]
            known = [t for t in types if t.datatype != "UNKNOWN"]
            if known and all(t.datatype in S.INTS for t in known):
                return ColumnInfo("", "BIGINT")
            if known and all(t.datatype in S.NUMBERS for t in known):
                return ColumnInfo("", "DOUBLE")
            return known[0] if known else ColumnInfo("", "UNKNOWN")
        return ColumnInfo("", "UNKNOWN")

    def binary(self, e: A.Binary) -> ColumnInfo:
        spine: list[A.Binary] = []
        node: A.Expr = e
        while isinstance(node, A.Binary):  # the left spine, without recursion
            spine.append(node)
            node = node.left
        left = self.of(node).datatype
        for b in reversed(spine):
            left = S.arith_type(b.op, left, self.of(b.right).datatype, b)
        if left == "VARCHAR":
            return ColumnInfo("", "VARCHAR", "*")
        return ColumnInfo("", left if left != "UNKNOWN" else "DOUBLE")

    def func(self, f: A.Func) -> ColumnInfo:
        if f.kind == "agg":
            if f.name == "COUNT":
                return ColumnInfo("", "BIGINT")
            inner = self.of(f.args[0])
            if f.name == "AVG":
                return ColumnInfo("", "DOUBLE", unit=inner.unit, ucd=inner.ucd)
            if f.name == "SUM" and inner.datatype in S.INTS:
                return ColumnInfo("", "BIGINT", unit=inner.unit, ucd=inner.ucd)
            return ColumnInfo("", inner.datatype, inner.arraysize, inner.xtype, inner.unit,
                                inner.ucd)
        if f.name in ("CONTAINS", "INTERSECTS"):
            return ColumnInfo("", "INTEGER")
        if f.name in ("DISTANCE", "COORD1", "COORD2"):
            return ColumnInfo("", "DOUBLE", unit="deg")
        if f.name == "AREA":
            return ColumnInfo("", "DOUBLE", unit="deg**2")
        if f.name in ("COORDSYS", "LOWER", "UPPER"):
            return ColumnInfo("", "VARCHAR", "*")
        if f.kind == "unit":
            target = f.args[1]
            assert isinstance(target, A.Literal)
            return ColumnInfo("", "DOUBLE", unit=target.value)
        if f.kind == "coalesce":
            return self.of(f.args[0])
        if f.kind == "udf":
            info = self.catalog.function(f.name) if self.catalog else None
            if info is not None:
                return typed(info.return_type.upper())
            known = builtin(f.name)
            return typed(known.return_type) if known else ColumnInfo("", "UNKNOWN")
        if f.kind == "math" and f.name in S.INT_PRESERVING | {"ROUND"} and f.args:
            types = [self.of(a).datatype for a in f.args]
            if all(t in S.INTS for t in types) and (f.name != "ROUND" or len(f.args) == 1):
                return ColumnInfo("", "BIGINT")
        return ColumnInfo("", "DOUBLE")
