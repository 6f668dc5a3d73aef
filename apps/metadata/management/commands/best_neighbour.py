"""Precomputed best neighbours, published and joinable (the Gaia archive's pattern).

For each row of table A, its nearest row of table B within a radius, found with
the same planned neighbour join an ADQL cross-match gets (apps/adql/crossmatch.py)
on the engine that holds both tables, stored there as a new table

    a_id | b_id | angular_distance (arcsec) | number_of_neighbours

with units, UCDs and descriptions, so a query joins A and B through it by id
(``JOIN best ON best.a_id = a.source_id``) instead of matching positions again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.adql import Catalog, translate
from apps.adql.dialects import get_dialect
from apps.metadata.actions import do_create_table, do_publish_table, do_set_access_level, ensure_schema
from apps.metadata.catalog import table_info
from apps.metadata.models import PRIVATE, Table
from apps.metadata.storage import drop_table, get_engine, store_table

TIMEOUT_S = 24 * 3600.0  # an administrator's batch run, not a user query


def find_table(qualified: str) -> Table:
    schema, _, name = qualified.rpartition(".")
    table = Table.objects.filter(schema__name=schema, name=name).select_related("schema").first()
    if table is None:
        raise CommandError(f"No table {qualified} is described here (schema.table).")
    return table


def id_column(table: Table, given: str | None) -> str:
    """The given column, else the one whose UCD says it is the table's main identifier."""
    names = {c.name.lower(): c.name for c in table.columns.all()}
    if given:
        if given.lower() not in names:
            raise CommandError(f"{table.qualified_name} has no column {given}.")
        return names[given.lower()]
    for c in table.columns.all():
        if c.ucd.replace(" ", "").lower() == "meta.id;meta.main":
            return c.name
    raise CommandError(f"{table.qualified_name}: no column has the UCD meta.id;meta.main; name its identifier "
                       "with --a-id / --b-id.")


def positions(table: Table) -> list[str]:
    pos = table.position_columns
    if not (isinstance(pos, list) and len(pos) == 2):
        raise CommandError(f"{table.qualified_name} has no position columns (RA, Dec).")
    return pos


def best_neighbour_sql(a: Table, b: Table, a_id: str, b_id: str, radius_arcsec: float) -> str:
    """The planned cross-match in ADQL, translated for the engine, ranked per row of A."""
    (a_ra, a_dec), (b_ra, b_dec) = positions(a), positions(b)
    dist = f'DISTANCE(POINT(a."{a_ra}", a."{a_dec}"), POINT(b."{b_ra}", b."{b_dec}"))'
    adql = (f'SELECT a."{a_id}" AS a_id, b."{b_id}" AS b_id, {dist} * 3600.0 AS angular_distance '
            f'FROM "{a.schema.name}"."{a.name}" AS a JOIN "{b.schema.name}"."{b.name}" AS b '
            f"ON {dist} < {float(radius_arcsec)!r} / 3600.0")
    engine = a.schema.engine
    matches = translate(adql, engine, catalog=Catalog([table_info(a), table_info(b)])).sql
    q = get_dialect(engine).ident
    rank, n, dist = q("neighbour_rank"), q("number_of_neighbours"), q("angular_distance")
    return (f"SELECT {q('a_id')}, {q('b_id')}, {dist}, {n} FROM (SELECT m.*, "
            f"ROW_NUMBER() OVER (PARTITION BY m.{q('a_id')} ORDER BY m.{dist}, m.{q('b_id')}) AS {rank}, "
            f"COUNT(*) OVER (PARTITION BY m.{q('a_id')}) AS {n} FROM ({matches}) AS m) AS ranked WHERE {rank} = 1")


def result_columns(a: Table, b: Table, a_id: str, b_id: str, radius_arcsec: float) -> list[dict[str, Any]]:
    def id_type(table: Table, name: str) -> str:
        return table.columns.get(name=name).datatype

    return [
        {"name": "a_id", "order": 0, "datatype": id_type(a, a_id), "ucd": "meta.id;meta.main", "principal": True,
         "indexed": False, "description": f"{a_id} of the source in {a.qualified_name}"},
        {"name": "b_id", "order": 1, "datatype": id_type(b, b_id), "ucd": "meta.id.cross", "principal": True,
         "description": f"{b_id} of its nearest neighbour in {b.qualified_name}"},
        {"name": "angular_distance", "order": 2, "datatype": "DOUBLE", "unit": "arcsec", "ucd": "pos.angDistance",
         "principal": True, "description": "Angular distance between the two positions"},
        {"name": "number_of_neighbours", "order": 3, "datatype": "BIGINT", "ucd": "meta.number",
         "description": f"Number of rows of {b.qualified_name} within {radius_arcsec:g} arcsec of the source"},
    ]


def _with_schema(batches: Iterator[pa.RecordBatch]) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The first batch's schema, and every batch (the engine streams; nothing is held whole)."""
    first = next(batches, None)
    if first is None:
        raise CommandError("the engine returned no result description")

    def chained() -> Iterator[pa.RecordBatch]:
        yield first
        yield from batches
    return first.schema, chained()


class Command(BaseCommand):
    help = ("For each row of table A, its best (nearest) neighbour in table B within a radius, computed with a "
            "planned zone join on the engine holding both, stored as SCHEMA.TABLE (a_id, b_id, angular_distance in arcsec, "
            "number of neighbours) with its metadata, joinable by id.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("a", help="schema.table whose rows get a neighbour")
        parser.add_argument("b", help="schema.table searched for neighbours")
        parser.add_argument("--radius-arcsec", type=float, required=True)
        parser.add_argument("--into", required=True, help="schema.table to create (on the same engine)")
        parser.add_argument("--a-id", help="identifier column of A (default: the UCD meta.id;meta.main)")
        parser.add_argument("--b-id", help="identifier column of B (default: the UCD meta.id;meta.main)")
        parser.add_argument("--publish", choices=["public", "internal", "private"],
                            help="Publish at once with this access level.")

    def handle(self, *args: Any, a: str, b: str, radius_arcsec: float, into: str, a_id: str | None,
               b_id: str | None, publish: str | None, **options: Any) -> None:
        ta, tb = find_table(a), find_table(b)
        engine = ta.schema.engine
        if tb.schema.engine != engine:
            raise CommandError(f"{a} is on {engine} and {b} on {tb.schema.engine}: both must be on one engine.")
        if not 0 < radius_arcsec <= 3600:
            raise CommandError("--radius-arcsec must be above 0 and at most 3600 (1 degree).")
        schema, _, name = into.rpartition(".")
        if not schema or Table.objects.filter(schema__name=schema, name=name).exists():
            raise CommandError(f"{into}: give a new schema.table.")
        ida, idb = id_column(ta, a_id), id_column(tb, b_id)
        sql = best_neighbour_sql(ta, tb, ida, idb, radius_arcsec)
        batches = get_engine(engine).stream(sql, timeout_s=TIMEOUT_S, job_id=f"best-neighbour-{uuid.uuid4().hex}")
        arrow_schema, rows_in = _with_schema(iter(batches))
        try:
            rows = store_table(engine, schema, name, rows_in, arrow_schema)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        try:
            table = self.describe(ta, tb, ida, idb, radius_arcsec, engine, schema, name, rows)
        except (ValidationError, CommandError):
            drop_table(engine, schema, name)
            raise
        self.stdout.write(f"{table.qualified_name}: {rows} best neighbours of {a} in {b} within {radius_arcsec:g} arcsec.")
        if publish:
            do_set_access_level(None, table, publish)
            do_publish_table(None, table)
            self.stdout.write(f"Published {table.qualified_name} ({publish}).")

    @staticmethod
    def describe(ta: Table, tb: Table, ida: str, idb: str, radius_arcsec: float, engine: str, schema: str,
                 name: str, rows: int) -> Table:
        s = ensure_schema(None, schema, engine, access_level=PRIVATE)
        description = (f"Best neighbour in {tb.qualified_name} of each source of {ta.qualified_name} within "
                       f"{radius_arcsec:g} arcsec (the nearest; ties go to the smaller id). Join it to "
                       f"{ta.qualified_name} on a_id = {ida} and to {tb.qualified_name} on b_id = {idb}.")
        return do_create_table(None, s, name, columns=result_columns(ta, tb, ida, idb, radius_arcsec),
                               description=description, row_count=rows)
