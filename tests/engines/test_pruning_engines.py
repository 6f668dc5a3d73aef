"""HEALPix pruning on the real engines: the same rows with and without it, and the plan reads less."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pymysql.cursors
import pytest

from apps.adql import Catalog, ColumnInfo, SkyIndex, TableInfo, translate
from apps.adql.pruning import Cone, covering, partition_cells
from workers.engines.base import TableName
from workers.engines.hats import HatsSettings, healpix_29, write_hats
from workers.engines.parquet import duckdb_hats_sql, spark_hats_sql

COLUMNS = (ColumnInfo("source_id", "BIGINT"), ColumnInfo("ra", "DOUBLE"), ColumnInfo("dec", "DOUBLE"),
           ColumnInfo("mag", "DOUBLE"))
GAIA = SkyIndex("ra", "dec", "source_id", order=12, shift=35)

# Cones, boxes and polygons around a dense field, across RA 0/360 and at both poles.
WHERES = [
    "1 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.3))",
    "DISTANCE(POINT(ra, dec), POINT(10.2, 20.1)) < 0.5",
    "DISTANCE(10.2, 20.1, ra, dec) <= 0.5",
    "1 = CONTAINS(POINT(ra, dec), CIRCLE(0.2, 0.1, 1.5))",
    "1 = CONTAINS(POINT(ra, dec), CIRCLE(180, 89.5, 2))",
    "1 = INTERSECTS(CIRCLE(45, -90, 3), POINT(ra, dec))",
    "1 = CONTAINS(POINT(ra, dec), BOX(359.5, 0, 3, 4))",
    "1 = CONTAINS(POINT(ra, dec), POLYGON(9.5, 19.5, 10.6, 19.6, 10.4, 20.7))",
    "1 = CONTAINS(POINT(ra, dec), REGION('BOX ICRS 10 20 1 0.5'))",
    "1 = CONTAINS(POINT(ra, dec), REGION('UNION ICRS (CIRCLE 10 20 0.2 POLYGON 0 89 120 89 240 89)'))",
    "1 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.3)) OR mag < 10.01",
]
SELECT = "SELECT source_id FROM {table} WHERE {where}"


def sky_table(rows: int = 20_000) -> pa.Table:
    """Positions spread on the sky, a dense field at (10, 20), crowds at RA 0/360 and the poles, a few NULLs;
    ``source_id`` carries the order-12 pixel (Gaia's convention) and the rows are sorted by it."""
    rng = np.random.default_rng(14)
    n = rows // 4
    ra = np.concatenate([rng.uniform(0, 360, n), 10 + rng.normal(0, 0.5, n), rng.uniform(-2, 2, n) % 360,
                         rng.uniform(0, 360, n)])
    dec = np.concatenate([np.degrees(np.arcsin(rng.uniform(-1, 1, n))), 20 + rng.normal(0, 0.5, n),
                          rng.uniform(-3, 3, n), np.where(rng.uniform(size=n) < 0.5, 1, -1) * rng.uniform(86, 90, n)])
    pix12 = healpix_29(ra, dec) >> 34
    source_id = (pix12 << 35) + np.arange(len(ra))
    order = np.argsort(source_id)
    mag = rng.uniform(10, 20, len(ra))
    table = pa.table({"source_id": source_id[order], "ra": ra[order], "dec": dec[order], "mag": mag[order]})
    nulls = pa.table({"source_id": pa.array([1, 2, 3], pa.int64()), "ra": pa.array([None, 10.0, None], pa.float64()),
                      "dec": pa.array([None, None, 20.0], pa.float64()), "mag": pa.array([15.0] * 3)})
    return pa.concat_tables([nulls, table])


@pytest.fixture(scope="module")
def data() -> pa.Table:
    return sky_table()


def both(where: str, dialect: str, sky: SkyIndex, schema: str = "prune", sql_from: str | None = None) -> tuple[str, str]:
    """The SQL of ``where`` over the table with pruning (a SkyIndex) and without."""
    out = []
    for index in (sky, None):
        catalog = Catalog([TableInfo(schema, "src", COLUMNS, sql_from=sql_from, sky=index)])
        out.append(translate(SELECT.format(table=f"{schema}.src", where=where), dialect, catalog=catalog).sql)
    assert "BETWEEN" in out[0].split(" OR mag")[0] and out[0] != out[1]
    return out[0], out[1]


def ids(rows: Any) -> list[int]:
    return sorted(int(r[0]) for r in rows)


def explain_analyze(duck: Any, sql: str) -> str:
    return "\n".join(r[1] for r in duck.execute("EXPLAIN ANALYZE " + sql).fetchall())


# ---- DuckDB ------------------------------------------------------------------------------

@pytest.fixture
def plain_parquet(tmp_path: Path, data: pa.Table) -> str:
    path = tmp_path / "src.parquet"
    pq.write_table(data, path, row_group_size=500)  # 41 row groups, each a strip of sky (sorted by source_id)
    return f"read_parquet('{path}')"


@pytest.mark.parametrize("where", WHERES)
def test_duckdb_returns_the_same_rows_with_and_without_pruning(plain_parquet: str, where: str) -> None:
    import duckdb

    pruned, exact = both(where, "duckdb", GAIA, sql_from=plain_parquet)
    with duckdb.connect() as duck:
        expected = ids(duck.execute(exact).fetchall())
        assert expected and ids(duck.execute(pruned).fetchall()) == expected


@pytest.mark.parametrize("adql", [
    "SELECT source_id, CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.3)) AS inside FROM prune.src",
    "SELECT source_id, CASE WHEN DISTANCE(POINT(ra, dec), POINT(10, 20)) < 0.3 THEN 'in' ELSE 'out' END "
    "FROM prune.src",
    "SELECT source_id FROM prune.src WHERE NOT (1 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.3)))",
    "SELECT source_id FROM prune.src WHERE CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.3)) = 0",
    "SELECT source_id FROM prune.src WHERE NOT (DISTANCE(POINT(ra, dec), POINT(10, 20)) < 0.3 OR mag > 19)",
])
def test_duckdb_rows_without_position_answer_as_before(plain_parquet: str, adql: str) -> None:
    """In a selected value, under NOT and in CASE, NULL positions give what they gave without pruning."""
    import duckdb

    out = [translate(adql, "duckdb", catalog=Catalog([TableInfo("prune", "src", COLUMNS, sql_from=plain_parquet,
                                                                sky=sky)])).sql for sky in (GAIA, None)]
    with duckdb.connect() as duck:
        pruned, exact = (sorted(duck.execute(sql).fetchall(), key=str) for sql in out)
    assert pruned == exact and {r[0] for r in exact} & {1, 2, 3}


def row_groups_scanned(plan: str) -> tuple[int, int]:
    found = re.findall(r"Row Groups Scanned: ([\d,]+) / ([\d,]+)", plan)
    assert found, plan
    return int(found[0][0].replace(",", "")), int(found[0][1].replace(",", ""))


def test_duckdb_skips_row_groups_of_a_source_id_sorted_table(plain_parquet: str) -> None:
    import duckdb

    pruned, exact = both("1 = CONTAINS(POINT(ra, dec), CIRCLE(100, -30, 0.5))", "duckdb", GAIA, sql_from=plain_parquet)
    with duckdb.connect() as duck:
        read, total = row_groups_scanned(explain_analyze(duck, pruned))
        before, _ = row_groups_scanned(explain_analyze(duck, exact))
    # The dec band alone keeps the strips that cross dec -30; the cells keep one or two.
    assert total == 41 and read <= 2 and before >= 3 * read


@pytest.fixture(scope="module")
def hats_table(tmp_path_factory: pytest.TempPathFactory, data: pa.Table) -> Any:
    """The table in the HATS layout, written by the portal's writer (small partitions: many files)."""
    root = tmp_path_factory.mktemp("hats") / "src"
    positional = data.slice(3)  # HATS refuses rows without a position (the first three)
    settings = HatsSettings(pixel_threshold=800, histogram_order=7, margin_arcsec=0, row_group_rows=200, workers=1)
    return write_hats(positional.to_batches(), positional.schema, root, ra="ra", dec="dec", settings=settings)


@pytest.mark.parametrize("where", WHERES)
def test_duckdb_hats_returns_the_same_rows_with_and_without_pruning(hats_table: Any, where: str) -> None:
    import duckdb

    pruned, exact = both(where, "duckdb", hats_table.sky_index(), sql_from=duckdb_hats_sql(hats_table))
    assert '"Npix" IN (' in pruned
    with duckdb.connect() as duck:
        expected = ids(duck.execute(exact).fetchall())
        assert expected and ids(duck.execute(pruned).fetchall()) == expected


def expected_files(hats_table: Any, cone: Cone) -> int:
    moc = covering(cone)
    assert moc is not None
    cells = {k: set(partition_cells(moc, k) or ()) for k in hats_table.partition_orders}
    return sum(1 for p in hats_table.partitions if p.pixel in cells[p.order])


def test_duckdb_opens_only_the_partitions_under_the_cone(hats_table: Any) -> None:
    import duckdb

    pruned, exact = both("1 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.3))", "duckdb", hats_table.sky_index(),
                         sql_from=duckdb_hats_sql(hats_table))
    total = len(hats_table.partitions)
    assert len(hats_table.partition_orders) > 1 and total > 20
    with duckdb.connect() as duck:
        plan = explain_analyze(duck, pruned)
        unpruned = explain_analyze(duck, exact)
    scanned = re.findall(r"Scanning Files: (\d+)/(\d+)", plan)
    assert scanned and int(scanned[0][1]) == total
    assert 0 < int(scanned[0][0]) == expected_files(hats_table, Cone(10, 20, 0.3)) < total / 5
    assert re.findall(r"Total Files Read: (\d+)", unpruned) == [str(total)]


# ---- PostgreSQL --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pg_table(data: pa.Table) -> Iterator[str]:
    from .conftest import PG_ADMIN

    name = f"pruning_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(PG_ADMIN, dbname=name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            from workers.engines.postgresql import ensure_extensions

            ensure_extensions(conn)
            conn.execute("CREATE SCHEMA prune")
            conn.execute("CREATE TABLE prune.src (source_id bigint PRIMARY KEY, ra double precision, "
                         "dec double precision, mag double precision)")
            with conn.cursor().copy("COPY prune.src FROM STDIN") as copy:
                for row in zip(*(data.column(c).to_pylist() for c in data.column_names), strict=True):
                    copy.write_row(row)
            conn.execute("CREATE INDEX ON prune.src (q3c_ang2ipix(ra, dec))")
            conn.execute("ANALYZE prune.src")
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("where", WHERES)
def test_postgresql_returns_the_same_rows_with_and_without_pruning(pg_table: str, where: str) -> None:
    pruned, exact = both(where, "postgresql", GAIA)
    with psycopg.connect(pg_table) as conn:
        expected = ids(conn.execute(exact).fetchall())
        assert expected and ids(conn.execute(pruned).fetchall()) == expected


# ---- MariaDB -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def maria_table(data: pa.Table) -> Iterator[tuple[Any, str]]:
    from workers.engines.mariadb import MariaDBEngine

    from .conftest import MARIA_ADMIN

    engine = MariaDBEngine(MARIA_ADMIN)
    schema = f"pruning_test_{uuid.uuid4().hex[:8]}"
    engine.ingest(TableName(schema, "src"), iter(data.to_batches(max_chunksize=5000)), data.schema)
    with engine.connect() as conn, conn.cursor() as cur:
        cur.execute(f"ANALYZE TABLE `{schema}`.src")
    yield engine, schema
    with engine.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{schema}`")


MARIA_SKY = SkyIndex("ra", "dec", "_healpix_29")


def test_mariadb_ingest_adds_a_hidden_indexed_healpix_column(maria_table: tuple[Any, str], data: pa.Table) -> None:
    engine, schema = maria_table
    (table,) = engine.introspect(schema, "src")
    assert [c.name for c in table.columns] == ["source_id", "ra", "dec", "mag"]
    assert table.sky == MARIA_SKY  # discovery learns where the index is
    with engine.connect() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT source_id, _healpix_29 FROM `{schema}`.src ORDER BY source_id LIMIT 5")
        first = cur.fetchall()
        cur.execute(f"SHOW INDEX FROM `{schema}`.src WHERE Column_name = '_healpix_29'")
        assert cur.fetchall()
    assert [r[1] for r in first[:3]] == [None, None, None]  # no position, no cell
    assert first[3][1] >> 34 == first[3][0] >> 35  # the same order-12 pixel as source_id says


@pytest.mark.parametrize("where", WHERES)
def test_mariadb_returns_the_same_rows_with_and_without_pruning(maria_table: tuple[Any, str], where: str) -> None:
    engine, schema = maria_table
    pruned, exact = both(where, "mariadb", MARIA_SKY, schema=schema)
    with engine.connect() as conn, conn.cursor() as cur:
        cur.execute(exact)
        expected = ids(cur.fetchall())
        cur.execute(pruned)
        assert expected and ids(cur.fetchall()) == expected


def test_mariadb_answers_a_cone_with_a_range_scan_on_the_healpix_index(maria_table: tuple[Any, str]) -> None:
    engine, schema = maria_table
    pruned, exact = both("1 = CONTAINS(POINT(ra, dec), CIRCLE(100, -30, 0.5))", "mariadb", MARIA_SKY, schema=schema)
    with engine.connect() as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("EXPLAIN " + pruned)
        (plan,) = cur.fetchall()
        cur.execute("EXPLAIN " + exact)
        (before,) = cur.fetchall()
    assert plan["type"] == "range" and plan["key"] == "_healpix_29"
    assert before["type"] == "ALL" and int(plan["rows"]) * 20 < int(before["rows"])


# ---- Spark --------------------------------------------------------------------------------

def test_spark_returns_the_same_rows_and_filters_partitions(spark_remote: str, tmp_path: Path, hats_table: Any,
                                                            data: pa.Table) -> None:
    from workers.engines.spark import SparkEngine

    plain = tmp_path / "src.parquet"
    pq.write_table(data, plain, row_group_size=500)
    engine = SparkEngine(spark_remote, tmp_path, tmp_path / "mydb")
    try:
        session = engine.spark
        for sql_from, sky in ((f"parquet.`{plain}`", GAIA), (spark_hats_sql(hats_table), hats_table.sky_index())):
            for where in WHERES[:3] + WHERES[5:6]:
                pruned, exact = both(where, "spark", sky, sql_from=sql_from)
                expected = ids(session.sql(exact).collect())
                assert expected and ids(session.sql(pruned).collect()) == expected
        pruned, _ = both(WHERES[0], "spark", hats_table.sky_index(), sql_from=spark_hats_sql(hats_table))
        plan = "\n".join(r[0] for r in session.sql("EXPLAIN FORMATTED " + pruned).collect())
        filters = re.findall(r"PartitionFilters: \[([^\]]*)\]", plan)
        assert filters and "Norder" in filters[0] and "Dir" in filters[0], plan
        pushed = re.findall(r"PushedFilters: \[([^\]]*)\]", plan)  # row groups skipped by their statistics
        assert pushed and "_healpix_29" in pushed[0], plan
    finally:
        engine.close()


def test_postgresql_keeps_its_q3c_index_for_a_cone(pg_table: str) -> None:
    pruned, _ = both("1 = CONTAINS(POINT(ra, dec), CIRCLE(100, -30, 0.5))", "postgresql", GAIA)
    with psycopg.connect(pg_table) as conn:
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + pruned).fetchall())
    # The source_id ranges only filter what the q3c index finds.
    assert "Bitmap Index Scan on src_q3c_ang2ipix_idx" in plan and "Seq Scan" not in plan, plan


def test_duckdb_prunes_files_by_pixel_ranges_too(hats_table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where there are too many files to list, Npix ranges still skip files, and lose no row."""
    import duckdb

    from apps.adql import pruning

    monkeypatch.setattr(pruning, "MAX_PARTITION_CELLS", 0)
    pruned, exact = both("1 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.3))", "duckdb", hats_table.sky_index(),
                         sql_from=duckdb_hats_sql(hats_table))
    assert '"Npix" BETWEEN ' in pruned and '"Npix" IN' not in pruned
    with duckdb.connect() as duck:
        assert ids(duck.execute(pruned).fetchall()) == ids(duck.execute(exact).fetchall())
        scanned = re.findall(r"Scanning Files: (\d+)/(\d+)", explain_analyze(duck, pruned))
    assert scanned and int(scanned[0][0]) < int(scanned[0][1]) / 5


# ---- HATS tables read from the files of their cells only ----------------------------------------

def listed_files(sql: str) -> list[str]:
    """The files a FROM names in read_parquet([...]), or [] when it reads a folder."""
    found = re.search(r"read_parquet\(\[([^\]]*)\]", sql)
    return sorted(re.findall(r"'([^']*)'", found.group(1))) if found else []


def files_of_cone(hats_table: Any, cone: Cone) -> list[str]:
    """The partition files whose pixel the cone's cover touches, worked out per order (not as the translator does)."""
    moc = covering(cone)
    assert moc is not None
    cells = {k: set(partition_cells(moc, k) or ()) for k in hats_table.partition_orders}
    return sorted(str(hats_table.dataset / p.relative_path()) for p in hats_table.partitions if p.pixel in cells[p.order])


def hats_sql(hats_table: Any, where: str, dialect: str = "duckdb") -> str:
    from workers.engines.parquet import HatsPartitions

    whole = duckdb_hats_sql(hats_table) if dialect == "duckdb" else spark_hats_sql(hats_table)
    info = TableInfo("prune", "src", COLUMNS, sql_from=whole, sky=hats_table.sky_index(),
                     partitioned=HatsPartitions(hats_table.root))
    return translate(SELECT.format(table="prune.src", where=where), dialect, catalog=Catalog([info])).sql


def unpruned(where: str, sql_from: str, dialect: str) -> str:
    catalog = Catalog([TableInfo("prune", "src", COLUMNS, sql_from=sql_from)])
    return translate(SELECT.format(table="prune.src", where=where), dialect, catalog=catalog).sql


def brute_force(data: pa.Table, ra: float, dec: float, r: float) -> list[int]:
    """Rows within ``r`` degrees of (ra, dec), by the haversine formula in numpy."""
    lon, lat = (np.radians(data.column(c).to_numpy(zero_copy_only=False).astype(float)) for c in ("ra", "dec"))
    a = np.sin((lat - np.radians(dec)) / 2) ** 2 + np.cos(lat) * np.cos(np.radians(dec)) * np.sin((lon - np.radians(ra)) / 2) ** 2
    inside = np.degrees(2 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))) <= r
    return sorted(int(i) for i in data.column("source_id").to_numpy()[np.nan_to_num(inside, nan=0).astype(bool)])


def test_a_cone_reads_exactly_the_files_of_its_cells(hats_table: Any) -> None:
    import duckdb

    sql = hats_sql(hats_table, "1 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.3))")
    expected = files_of_cone(hats_table, Cone(10, 20, 0.3))
    assert 0 < len(expected) < len(hats_table.partitions) / 5
    assert listed_files(sql) == expected and "**" not in sql  # no folder listed, no glob
    with duckdb.connect() as duck:
        plan = explain_analyze(duck, sql)
    assert re.findall(r"Total Files Read: (\d+)", plan) == [str(len(expected))], plan


def test_a_cone_read_from_its_cells_files_tests_no_partition_column_but_keeps_the_index_ranges(hats_table: Any) -> None:
    """Every row of the named files is in the cover's partitions: a Norder/Dir/Npix test would only cost the
    engine work per row (Npix comes from the file name). A table whose files cannot be named keeps the test."""
    where = "1 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.3))"
    named = hats_sql(hats_table, where)
    assert listed_files(named) and '"_healpix_29" BETWEEN' in named
    assert '"Npix"' not in named.split(" WHERE ", 1)[1] and '"Norder"' not in named.split(" WHERE ", 1)[1], named
    assert "\x00" not in named and "TRUE" not in named
    info = TableInfo("prune", "src", COLUMNS, sql_from=duckdb_hats_sql(hats_table), sky=hats_table.sky_index())  # no file list
    whole = translate(SELECT.format(table="prune.src", where=where), "duckdb", catalog=Catalog([info])).sql
    assert not listed_files(whole) and '"Npix" IN (' in whole


@pytest.mark.parametrize("where", [*WHERES, "NOT (1 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.3)))",
                                   "0 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.3)) AND mag < 10.5",
                                   "1 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.3)) AND DISTANCE(10.1, 20, ra, dec) < 0.2",
                                   "mag < 11 AND 1 = CONTAINS(POINT(ra, dec), CIRCLE(0.1, -89.9, 2))"])
def test_a_hats_table_read_from_its_cells_files_returns_the_same_rows(hats_table: Any, where: str) -> None:
    """Only a test every row must pass (a conjunct of the WHERE) narrows the files; under OR or NOT all are read."""
    import duckdb

    sql = hats_sql(hats_table, where)
    exact = unpruned(where, duckdb_hats_sql(hats_table), "duckdb")
    narrowed = " OR " not in where.split("(")[0] and "NOT" not in where and not where.startswith("0 =") and "OR mag" not in where
    assert bool(listed_files(sql)) == narrowed, sql[:400]
    with duckdb.connect() as duck:
        expected = ids(duck.execute(exact).fetchall())
        assert expected and ids(duck.execute(sql).fetchall()) == expected


@pytest.mark.parametrize(("ra", "dec", "r"), [(0.0, 0.0, 1.0), (45.0, 89.7, 0.8), (200.0, -89.95, 0.5), (359.9, 2.0, 1.2)])
def test_cones_across_partition_boundaries_and_at_the_poles_give_the_brute_force_answer(
        hats_table: Any, data: pa.Table, ra: float, dec: float, r: float) -> None:
    import duckdb

    sql = hats_sql(hats_table, f"1 = CONTAINS(POINT(ra, dec), CIRCLE({ra}, {dec}, {r}))")
    assert len(listed_files(sql)) >= 2  # the cone spans partitions
    assert listed_files(sql) == files_of_cone(hats_table, Cone(ra, dec, r))
    with duckdb.connect() as duck:
        found = ids(duck.execute(sql).fetchall())
    assert found and found == brute_force(data.slice(3), ra, dec, r)


def test_a_cone_over_no_partition_reads_no_row(hats_table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    from apps.adql import pruning

    monkeypatch.setattr(pruning, "partitions_in", lambda moc, partitions: [])  # as if the cone's sky held no partition
    sql = hats_sql(hats_table, "1 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.3))")
    with duckdb.connect() as duck:
        assert duck.execute(sql).fetchall() == []


def test_spark_reads_only_the_cells_files_and_returns_the_same_rows(spark_remote: str, tmp_path: Path, hats_table: Any) -> None:
    from workers.engines.spark import SparkEngine

    engine = SparkEngine(spark_remote, tmp_path, tmp_path / "mydb")
    try:
        session = engine.spark
        for where in [WHERES[0], WHERES[2], WHERES[5], "mag < 11 AND 1 = CONTAINS(POINT(ra, dec), CIRCLE(0.1, -89.9, 2))"]:
            sql = hats_sql(hats_table, where, "spark")
            assert "UNION ALL" in sql or sql.count("parquet.`") == 1
            exact = unpruned(where, spark_hats_sql(hats_table), "spark")
            expected = ids(session.sql(exact).collect())
            assert expected and ids(session.sql(sql).collect()) == expected
        sql = hats_sql(hats_table, WHERES[0], "spark")
        read = sorted(set(re.findall(r"parquet\.`([^`]*)`", sql)))
        assert read == files_of_cone(hats_table, Cone(10, 20, 0.3))
    finally:
        engine.close()
