"""Metadata the validator checks a query against: tables, columns, functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# The eight fields a VOTable FIELD and TAP_SCHEMA.columns carry for a result column.
RESULT_FIELDS = ("name", "datatype", "arraysize", "xtype", "unit", "ucd", "description", "utype")


@dataclass(frozen=True)
class ColumnInfo:
    """The one shape of column metadata: a catalogue column the validator checks against, a result column
    the translator infers, what the result writers, TAP_SCHEMA, VOSI, MyDB and file readers pass around."""

    name: str
    datatype: str = ""  # ADQL/VOTable type: DOUBLE, BIGINT, VARCHAR, POINT, TIMESTAMP ...; "" not declared
    arraysize: str | None = None
    xtype: str | None = None
    unit: str = ""
    ucd: str = ""
    description: str = ""
    utype: str = ""
    principal: bool = False
    indexed: bool = False

    def as_dict(self) -> dict[str, str | None]:
        """The result-column form stored in a job (QueryJob.result_columns) and shown by the JSON API."""
        return {name: getattr(self, name) for name in RESULT_FIELDS}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> ColumnInfo:
        """A column from stored or hand-written metadata: missing or None text is empty, a number an arraysize."""
        def text(key: str) -> str:
            value = d.get(key)
            return "" if value is None else str(value)

        return cls(name=text("name"), datatype=text("datatype") or "UNKNOWN",
                   arraysize=str(d["arraysize"]) if d.get("arraysize") else None,
                   xtype=str(d["xtype"]) if d.get("xtype") else None, unit=text("unit"), ucd=text("ucd"),
                   description=text("description"), utype=text("utype"),
                   principal=bool(d.get("principal")), indexed=bool(d.get("indexed")))


@dataclass(frozen=True)
class SkyIndex:
    """Where a table's rows sit on the sky, so geometry can prune and joins can be planned.

    ``ra``/``dec`` are the position columns (ICRS degrees). ``column`` (optional)
    holds a NESTED HEALPix index: ``value >> shift`` is the pixel at ``order``
    (``_healpix_29``: order 29, shift 0; a Gaia ``source_id``: order 12, shift 35).
    ``partition_orders`` are the ``Norder`` values of a table stored in the HATS
    layout (files under ``Norder=k/Dir=d/Npix=n``); empty for a plain table.
    """

    ra: str
    dec: str
    column: str | None = None
    order: int = 29
    shift: int = 0
    partition_orders: tuple[int, ...] = ()


class PartitionedSource(Protocol):
    """A table stored as HATS partitions, whose FROM fragment can name only some of its files."""

    def partitions(self) -> Sequence[tuple[int, int]]:
        """(Norder, Npix) of every partition file."""
        ...

    def sql_from(self, dialect: str, partitions: Sequence[tuple[int, int]]) -> str | None:
        """A FROM fragment reading only ``partitions`` (with the same columns as the whole table's), or
        None where ``dialect`` cannot name files: the partition predicates then prune alone."""
        ...


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    columns: tuple[ColumnInfo, ...]
    description: str = ""
    # Trusted, pre-quoted FROM fragment used verbatim instead of "schema"."name".
    sql_from: str | None = None
    sky: SkyIndex | None = None  # positions and HEALPix ordering, when the table has them
    row_count: int | None = None  # from the metadata, for planning by size
    # HATS storage: a WHERE that confines the table to some sky cells reads only their files.
    partitioned: PartitionedSource | None = None


@dataclass(frozen=True)
class FunctionInfo:
    """A user-defined function; ``sql`` maps dialect to a name or a template.

    A template contains ``{0}``, ``{1}`` ... (or ``{args}`` for all arguments)
    and is filled with the already-emitted argument SQL.
    """

    name: str
    return_type: str
    sql: dict[str, str] = field(default_factory=dict)


def fold(name: str, delimited: bool) -> str:
    """The lookup key of an identifier: regular ones are case-insensitive."""
    return name if delimited else name.lower()


class Catalog:
    """Tables and functions a query may use, looked up by ADQL case rules."""

    def __init__(self, tables: Iterable[TableInfo], functions: Iterable[FunctionInfo] = ()) -> None:
        self.tables: list[TableInfo] = list(tables)
        self.functions: dict[str, FunctionInfo] = {f.name.lower(): f for f in functions}
        self._by_name: dict[str, list[TableInfo]] = {}
        for t in self.tables:
            self._by_name.setdefault(t.name.lower(), []).append(t)

    def find_tables(self, schema: str | None, name: str, delimited: bool = False,
                    schema_delimited: bool = False) -> list[TableInfo]:
        """All tables matching; a regular identifier matches any case."""
        found = []
        for t in self._by_name.get(name.lower(), []):
            if delimited and t.name != name:
                continue
            if schema is not None:
                if schema_delimited and t.schema != schema:
                    continue
                if not schema_delimited and t.schema.lower() != schema.lower():
                    continue
            found.append(t)
        return found

    def function(self, name: str) -> FunctionInfo | None:
        return self.functions.get(name.lower())

    def table_names(self) -> list[str]:
        return [f"{t.schema}.{t.name}" if t.schema else t.name for t in self.tables]
