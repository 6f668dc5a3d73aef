"""Cross-matches on the four real engines: the same pairs as a brute-force answer, and a
plan that is a hash join / index probe, never a nested loop over both tables
(apps/adql/crossmatch.py). Data: tests/adql/test_crossmatch.make_catalogues."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Iterator
from typing import Any, cast

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apps.adql import Catalog, translate
from tests.adql.test_crossmatch import (
    RADII,
    RADIUS_ADQL,
    brute_force,
    catalog_for,
    crossmatch_queries,
    haversine,
    make_catalogues,
)
from workers.engines.base import TableName
from workers.engines.parquet import ParquetStore
from workers.engines.postgresql import ensure_extensions

Rows = list[tuple[Any, ...]]


class Engine:
    """Where the two tables live on one engine: run SQL, read a plan."""

    def __init__(self, dialect: str, catalog: Catalog, run: Callable[[str], Rows],
                 explain: Callable[[str], str]) -> None:
        self.dialect, self.catalog, self.run_sql, self.explain_sql = dialect, catalog, run, explain

    def sql(self, adql: str) -> str:
        return translate(adql, self.dialect, catalog=self.catalog).sql

    def pairs(self, adql: str) -> set[tuple[int, int]]:
        return {(int(r[0]), int(r[1])) for r in self.run_sql(self.sql(adql))}

    def plan(self, adql: str) -> str:
        return self.explain_sql(self.sql(adql))


@pytest.fixture(scope="module")
def data() -> tuple[pa.Table, pa.Table]:
    return make_catalogues()


def _rows(data: tuple[pa.Table, pa.Table]) -> tuple[int, int]:
    return data[0].num_rows, data[1].num_rows


@pytest.fixture(scope="module")
def parquet_store(data: tuple[pa.Table, pa.Table], tmp_path_factory: pytest.TempPathFactory) -> ParquetStore:
    root = tmp_path_factory.mktemp("xmatch")
    (root / "science" / "xm").mkdir(parents=True)
    for name, table in zip("ab", data, strict=True):
        pq.write_table(table, root / "science" / "xm" / f"{name}.parquet", row_group_size=500)
    return ParquetStore(root / "science", root / "mydb")


def duckdb_engine(store: ParquetStore, data: tuple[pa.Table, pa.Table]) -> Iterator[Engine]:
    import duckdb

    conn = duckdb.connect()
    sql_from = {n: store.scan_sql(store.path(TableName("xm", n))) for n in "ab"}
    yield Engine("duckdb", catalog_for(sql_from, rows=_rows(data)),
                 lambda sql: conn.execute(sql).fetchall(),
                 lambda sql: "\n".join(r[1] for r in conn.execute("EXPLAIN " + sql).fetchall()))
    conn.close()


def postgresql_engine(pg_url: str, data: tuple[pa.Table, pa.Table]) -> Iterator[Engine]:
    conn = psycopg.connect(pg_url, autocommit=True)
    ensure_extensions(conn)
    schema = f"xm_{uuid.uuid4().hex[:8]}"
    conn.execute(f"CREATE SCHEMA {schema}")
    for name, table in zip("ab", data, strict=True):
        conn.execute(f"CREATE TABLE {schema}.{name} (id BIGINT PRIMARY KEY, ra DOUBLE PRECISION, "
                     "dec DOUBLE PRECISION, mag DOUBLE PRECISION)")
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {schema}.{name} VALUES (%s, %s, %s, %s)",
                            list(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)))
        conn.execute(f"CREATE INDEX {name}_q3c ON {schema}.{name} (q3c_ang2ipix(ra, dec))")
        conn.execute(f"ANALYZE {schema}.{name}")
    sql_from = {n: f'"{schema}"."{n}"' for n in "ab"}

    def explain(sql: str) -> str:
        return "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql).fetchall())
    yield Engine("postgresql", catalog_for(sql_from, rows=_rows(data)),
                 lambda sql: conn.execute(sql).fetchall(), explain)
    conn.execute(f"DROP SCHEMA {schema} CASCADE")
    conn.close()


def mariadb_engine(maria: Any, data: tuple[pa.Table, pa.Table]) -> Iterator[Engine]:
    db = maria.cat
    conn = maria.connect()
    with conn.cursor() as cur:
        for name, table in zip("ab", data, strict=True):
            cur.execute(f"CREATE TABLE `{db}`.xm_{name} (id BIGINT PRIMARY KEY, ra DOUBLE, `dec` DOUBLE, mag DOUBLE)")
            cur.executemany(f"INSERT INTO `{db}`.xm_{name} VALUES (%s, %s, %s, %s)",
                            list(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)))
            cur.execute(f"ANALYZE TABLE `{db}`.xm_{name}")
    conn.commit()

    def run(sql: str) -> Rows:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def explain(sql: str) -> str:
        return "\n".join(" | ".join(str(v) for v in row) for row in run("EXPLAIN " + sql))
    yield Engine("mariadb", catalog_for({n: f"`{db}`.`xm_{n}`" for n in "ab"}, rows=_rows(data)), run, explain)
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS `{db}`.xm_a, `{db}`.xm_b")
    conn.close()


def spark_engine(spark_remote: str, store: ParquetStore, data: tuple[pa.Table, pa.Table]) -> Iterator[Engine]:
    from pyspark.sql import SparkSession

    from workers.engines.spark import SparkEngine

    spark = SparkEngine(spark_remote, store.science_dir, store.mydb_dir)
    session = SparkSession.builder.remote(spark_remote).create()
    sql_from = {n: spark.sql_from(TableName("xm", n)) for n in "ab"}
    yield Engine("spark", catalog_for(sql_from, rows=_rows(data)),
                 lambda sql: [tuple(r) for r in session.sql(sql).collect()],
                 lambda sql: str(session.sql("EXPLAIN " + sql).collect()[0][0]))
    session.stop()


@pytest.fixture(scope="module", params=["duckdb", "postgresql", "mariadb", "spark"])
def engine(request: pytest.FixtureRequest, data: tuple[pa.Table, pa.Table],
           parquet_store: ParquetStore) -> Iterator[Engine]:
    if request.param == "duckdb":
        yield from duckdb_engine(parquet_store, data)
    elif request.param == "postgresql":
        yield from postgresql_engine(request.getfixturevalue("pg_url"), data)
    elif request.param == "mariadb":
        yield from mariadb_engine(request.getfixturevalue("maria"), data)
    else:
        yield from spark_engine(request.getfixturevalue("spark_remote"), parquet_store, data)


def assert_not_a_nested_loop(engine: Engine, plan: str) -> None:
    text = plan.lower()
    if engine.dialect == "duckdb":
        assert "hash join" in text or "hash_join" in text, plan
        assert "ie_join" not in text and "iejoin" not in text and "nested_loop" not in text, plan
        assert "nested loop" not in text and "piecewise" not in text, plan
    elif engine.dialect == "spark":
        assert "broadcasthashjoin" in text or "sortmergejoin" in text or "shuffledhashjoin" in text, plan
        assert "nestedloop" not in text and "cartesianproduct" not in text, plan
    elif engine.dialect == "mariadb":
        assert "bnl join" not in text, plan  # a block nested loop over both tables
        assert "| ref | key0 |" in text, plan  # each probe looks up the zone key of the derived table
    else:
        assert "a_q3c" in text or "b_q3c" in text, plan  # q3c_join probes the q3c index


@pytest.mark.parametrize("key", list(RADII))
def test_it_finds_the_brute_force_pairs_with_a_planned_join(engine: Engine, data: tuple[pa.Table, pa.Table],
                                                           key: str) -> None:
    expected = brute_force(*data, RADII[key])
    for form, adql in crossmatch_queries(key).items():
        assert engine.pairs(adql) == expected, form
        assert_not_a_nested_loop(engine, engine.plan(adql))


def test_it_keeps_an_extra_condition_and_a_selected_distance_right(
        engine: Engine, data: tuple[pa.Table, pa.Table]) -> None:
    a, b = data
    bright = {int(i) for i, m in zip(a.column("id").to_pylist(), a.column("mag").to_pylist(), strict=True)
              if m < 15}
    expected = {p for p in brute_force(a, b, RADII["10arcsec"]) if p[0] in bright}
    adql = (f"SELECT TOP 40 a.id, b.id AS bid, DISTANCE(POINT(a.ra, a.dec), POINT(b.ra, b.dec)) * 3600 AS sep "
            f"FROM xm.a AS a JOIN xm.b AS b ON DISTANCE(POINT(a.ra, a.dec), POINT(b.ra, b.dec)) < "
            f"{RADIUS_ADQL['10arcsec']} WHERE a.mag < 15 ORDER BY a.id, bid")
    rows = engine.run_sql(engine.sql(adql))
    assert [(int(r[0]), int(r[1])) for r in rows] == sorted(expected)[:40]
    pos = {int(i): (r, d) for t in data for i, r, d in zip(*(t.column(c).to_pylist() for c in ("id", "ra", "dec")),
                                                           strict=True)}
    for ida, idb, sep in rows:
        want = float(haversine(*pos[int(ida)], *pos[int(idb)])) * 3600
        assert abs(float(sep) - want) < 1e-3  # arcsec
    assert_not_a_nested_loop(engine, engine.plan(adql))


def test_it_self_joins_a_table_without_pairing_a_row_with_itself(
        engine: Engine, data: tuple[pa.Table, pa.Table]) -> None:
    b = data[1]
    expected = {p for p in brute_force(b, b, RADII["1arcsec"]) if p[0] != p[1]}
    adql = ("SELECT x.id, y.id AS yid FROM xm.b AS x JOIN xm.b AS y ON x.id <> y.id "
            f"AND DISTANCE(POINT(x.ra, x.dec), POINT(y.ra, y.dec)) < {RADIUS_ADQL['1arcsec']}")
    assert engine.pairs(adql) == expected and len(expected) > 100
    assert_not_a_nested_loop(engine, engine.plan(adql))


def test_it_counts_matches_per_source_as_before(engine: Engine, data: tuple[pa.Table, pa.Table]) -> None:
    """An aggregate over the join: each pair is counted once, whatever the copies."""
    counts: dict[int, int] = {}
    for ida, _ in brute_force(*data, RADII["1deg"]):
        counts[ida] = counts.get(ida, 0) + 1
    adql = ("SELECT a.id, COUNT(*) AS n FROM xm.a AS a, xm.b AS b WHERE "
            "DISTANCE(POINT(a.ra, a.dec), POINT(b.ra, b.dec)) < 1.0 GROUP BY a.id")
    assert {int(i): int(n) for i, n in engine.run_sql(engine.sql(adql))} == counts


# ---- the larger table in HATS partitions --------------------------------------------------------------

@pytest.fixture(scope="module")
def hats_b(data: tuple[pa.Table, pa.Table], parquet_store: ParquetStore) -> Any:
    """Table b as a HATS catalogue of partitions of at most 60 rows: its rows at the poles, across RA 0/360 and
    on zone lines fall into many partitions, whose boundaries a pair straddles."""
    from workers.engines.hats import HatsSettings, write_hats

    b = data[1]
    settings = HatsSettings(pixel_threshold=60, histogram_order=6, margin_arcsec=0, row_group_rows=50, batch_rows=500,
                            buffer_rows=1000, workers=1)
    return write_hats(b.to_batches(max_chunksize=500), b.schema, parquet_store.science_dir / "xm" / "b_hats",
                      ra="ra", dec="dec", settings=settings)


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_it_finds_the_brute_force_pairs_across_hats_partition_boundaries(
        dialect: str, data: tuple[pa.Table, pa.Table], parquet_store: ParquetStore, hats_b: Any,
        request: pytest.FixtureRequest) -> None:
    from apps.adql import TableInfo
    from tests.adql.test_crossmatch import COLUMNS
    from workers.engines.parquet import HatsPartitions, duckdb_hats_sql, spark_hats_sql

    assert len(hats_b.partitions) >= 20 and len(hats_b.partition_orders) >= 2
    runs = cast(Generator[Engine, None, None], duckdb_engine(parquet_store, data) if dialect == "duckdb"
                else spark_engine(request.getfixturevalue("spark_remote"), parquet_store, data))
    engine = next(runs)
    whole = duckdb_hats_sql(hats_b) if dialect == "duckdb" else spark_hats_sql(hats_b)
    a_info = next(t for t in engine.catalog.tables if t.name == "a")
    b_info = TableInfo("xm", "b", COLUMNS, sql_from=whole, row_count=data[1].num_rows, sky=hats_b.sky_index(),
                       partitioned=HatsPartitions(hats_b.root))
    engine.catalog = Catalog([a_info, b_info])
    try:
        for key in RADII:
            expected = brute_force(*data, RADII[key])
            for form, adql in crossmatch_queries(key).items():
                assert engine.pairs(adql) == expected, (key, form)
        assert_not_a_nested_loop(engine, engine.plan(crossmatch_queries("1arcsec")["distance in ON"]))
    finally:
        runs.close()
