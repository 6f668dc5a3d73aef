"""Routing by size: which engine runs a query and why, the user's choice, and one translation per request.

The catalogue is a small generated Gaia-like table published on DuckDB whose metadata says it holds
100 million rows: routing reads the metadata only, so a "big" query is sent to Spark (the Connect
server of scripts/services.d/20-spark) and really runs there, over the same Parquet file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.adql import ColumnInfo, SkyIndex, TableInfo, parse
from apps.query import actions, planning, routing
from apps.query.models import QueryJob
from apps.uws import phases

SPARK_REMOTE = os.environ.get("SPARK_REMOTE") or "sc://127.0.0.1:15002"
BIG = 100_000_000


@pytest.fixture
def gaia(db: None, settings: Any) -> str:
    """gaia.source: 2,000 rows on DuckDB, 100,000,000 in its metadata, source_id indexed; Spark configured."""
    from apps.metadata.actions import do_generate_catalogue
    from apps.metadata.catalog import bump_metadata_version
    from apps.metadata.models import Column, Table
    from workers.engines import reset_engines

    settings.SPARK_REMOTE = SPARK_REMOTE
    settings.QUERY_SPARK_ABOVE_ROWS = 1_000_000
    reset_engines()
    table = do_generate_catalogue(None, "gaia.source", rows=2000, engine="duckdb")
    Table.objects.filter(pk=table.pk).update(row_count=BIG)
    Column.objects.filter(table=table, name="source_id").update(indexed=True)
    bump_metadata_version()
    return str(table.qualified_name)


def test_a_full_aggregate_of_a_big_table_goes_to_spark_and_says_why(gaia: str) -> None:
    plan = planning.plan_query(None, query=f"SELECT COUNT(*) AS n FROM {gaia}")
    assert plan.engine == "spark"
    assert "an aggregate reading about 100,000,000 rows" in plan.reason and "1,000,000" in plan.reason
    assert "parquet.`" in plan.sql  # Spark's own reading of the published file, not DuckDB's read_parquet


def test_a_lookup_on_an_indexed_column_of_the_same_table_stays_on_duckdb(gaia: str) -> None:
    plan = planning.plan_query(None, query=f"SELECT ra, dec FROM {gaia} WHERE source_id = 42")
    assert plan.engine == "duckdb"
    assert f"reading about {routing.INDEXED_ROWS:,} rows" in plan.reason and "small work runs on duckdb" in plan.reason


def test_without_spark_everything_stays_where_the_tables_are(gaia: str, settings: Any) -> None:
    settings.SPARK_REMOTE = ""
    plan = planning.plan_query(None, query=f"SELECT COUNT(*) AS n FROM {gaia}")
    assert plan.engine == "duckdb" and plan.reason == "its tables are held by duckdb"


def test_the_user_may_choose_an_engine_that_can_read_the_tables(gaia: str) -> None:
    plan = planning.plan_query(None, query=f"SELECT COUNT(*) AS n FROM {gaia}", engine="duckdb")
    assert plan.engine == "duckdb" and "chosen by the user" in plan.reason


def test_an_engine_that_cannot_read_the_tables_is_refused_with_the_ones_that_can(gaia: str, settings: Any) -> None:
    settings.SCIENCE_POSTGRESQL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
    with pytest.raises(planning.QueryError, match="cannot run on postgresql: its tables can be read by duckdb or spark"):
        planning.plan_query(None, query=f"SELECT COUNT(*) AS n FROM {gaia}", engine="postgresql")
    with pytest.raises(planning.QueryError, match="no engine called 'oracle'"):
        planning.plan_query(None, query=f"SELECT COUNT(*) AS n FROM {gaia}", engine="oracle")


def test_a_big_async_job_runs_on_spark_and_its_tap_job_says_which_and_why(gaia: str, client: Client,
                                                                       django_capture_on_commit_callbacks: Any) -> None:
    from lxml import etree

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/tap/async", {"LANG": "ADQL", "PHASE": "RUN",
                                              "QUERY": f"SELECT COUNT(*) AS n FROM {gaia}"})
    assert response.status_code == 303
    job = QueryJob.objects.get()
    assert job.phase == phases.COMPLETED, job.error
    assert job.engine == "spark" and job.row_count == 1 and "aggregate" in job.engine_reason
    assert next(actions.result_batches(job)).column(0)[0].as_py() == 2000  # the real file, read by Spark
    doc = etree.fromstring(client.get(response["Location"]).content)
    params = {p.get("id"): p.text for p in doc.iter("{http://www.ivoa.net/xml/UWS/v1.0}parameter")}
    assert params["engine"] == "spark" and params["engine_reason"] == job.engine_reason


def test_a_tap_sync_query_may_ask_for_an_engine_and_its_result_says_which_ran(gaia: str, client: Client) -> None:
    response = client.post("/tap/sync", {"LANG": "ADQL", "ENGINE": "duckdb", "QUERY": f"SELECT COUNT(*) AS n FROM {gaia}"})
    assert response.status_code == 200
    body = _body(response).decode()
    assert '<INFO name="engine" value="duckdb"' in body and "chosen by the user (ENGINE=duckdb)" in body
    refused = client.post("/tap/sync", {"LANG": "ADQL", "ENGINE": "mariadb", "QUERY": f"SELECT COUNT(*) AS n FROM {gaia}"})
    assert refused.status_code == 400 and "cannot run on mariadb" in _body(refused).decode()


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else bytes(response.content)


def test_the_job_page_shows_the_engine_and_the_reason(gaia: str, users: Any, client: Client,
                                                      django_capture_on_commit_callbacks: Any) -> None:
    client.force_login(users.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/query/", {"query": f"SELECT ra FROM {gaia} WHERE source_id = 7", "language": "ADQL",
                                           "queue": "quick", "engine": ""})
    assert response.status_code == 302
    job = QueryJob.objects.get()
    page = client.get(response["Location"]).content.decode()
    assert '<span id="job-engine">duckdb</span>' in page and "small work runs on duckdb" in page
    assert job.engine_reason in page


# ---- the estimate, from metadata only --------------------------------------------------------

def _read(query: str, *tables: TableInfo) -> routing.Estimate:
    tree = parse(query)
    by_name = {t.name: t for t in tables}
    return routing.estimate(tree, [(node, by_name[node.parts[-1].name]) for node in routing.table_nodes(tree)])


CAT = TableInfo("gaia", "source", (ColumnInfo("ra", "DOUBLE"), ColumnInfo("dec", "DOUBLE")), row_count=BIG,
                sky=SkyIndex("ra", "dec", "source_id", order=12, shift=35))


def test_a_cone_on_a_sky_indexed_table_reads_only_its_share_of_the_sky() -> None:
    cone = _read("SELECT * FROM gaia.source WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10, 20, 1))", CAT)
    assert cone.rows is not None and 7_000 < cone.rows < 8_000  # a 1° cap is 7.6e-5 of the sphere
    distance = _read("SELECT * FROM gaia.source WHERE DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', 10, 20)) < 1", CAT)
    assert distance.rows == cone.rows
    plain = TableInfo("gaia", "source", CAT.columns, row_count=BIG)  # no SkyIndex: nothing to prune with
    assert _read("SELECT * FROM gaia.source WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10, 20, 1))",
                 plain).rows == BIG


def test_a_cross_match_counts_both_sides_and_is_named_as_one() -> None:
    small = TableInfo("mydb", "mine", CAT.columns, row_count=100_000)
    xmatch = _read("SELECT * FROM mydb.mine AS m JOIN gaia.source AS g "
                   "ON 1 = CONTAINS(POINT('ICRS', m.ra, m.dec), CIRCLE('ICRS', g.ra, g.dec, 0.0003))", small, CAT)
    assert xmatch.crossmatch and xmatch.rows == BIG + 100_000
    assert "a cross-match reading about 100,100,000 rows" == xmatch.describe()


def test_a_peek_at_a_big_table_reads_only_its_first_rows_but_a_filtered_or_sorted_one_reads_it_all() -> None:
    assert _read("SELECT TOP 1 * FROM gaia.source", CAT).rows == 1
    assert _read("SELECT TOP 10 ra FROM gaia.source OFFSET 5", CAT).rows == 15
    for whole in ("SELECT TOP 1 * FROM gaia.source WHERE ra > 359.9",  # may scan everything to find one row
                  "SELECT TOP 1 * FROM gaia.source ORDER BY ra", "SELECT DISTINCT TOP 1 ra FROM gaia.source",
                  "SELECT TOP 1 COUNT(*) FROM gaia.source", "SELECT TOP 1 ra FROM gaia.source GROUP BY ra"):
        assert _read(whole, CAT).rows == BIG, whole


def test_an_unknown_size_keeps_the_query_where_its_tables_are() -> None:
    unknown = TableInfo("gaia", "source", CAT.columns)
    cost = _read("SELECT COUNT(*) FROM gaia.source", unknown)
    route = routing.route("duckdb", ("duckdb", "spark"), cost)
    assert cost.rows is None and route.engine == "duckdb" and "unknown size" in route.reason


# ---- one translation per request ------------------------------------------------------------

@pytest.fixture
def count_translations(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    calls: list[str] = []
    real = planning.translate_tree

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(planning, "translate_tree", counted)
    monkeypatch.setattr(planning, "translate", lambda *a, **k: pytest.fail("ADQL translated from its text again"))
    return lambda: len(calls)


def test_a_sync_tap_request_translates_its_query_once(gaia: str, client: Client, count_translations: Any) -> None:
    response = client.post("/tap/sync", {"LANG": "ADQL", "RESPONSEFORMAT": "csv",
                                         "QUERY": f"SELECT TOP 5 source_id FROM {gaia} WHERE source_id > 3"})
    assert response.status_code == 200 and len(_body(response).splitlines()) == 6  # a header and 5 rows
    assert count_translations() == 1


def test_an_async_job_translates_its_query_once_from_submission_to_result(gaia: str, client: Client, count_translations: Any,
                                                                         django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # the worker runs it here (eager), planning reused
        response = client.post("/tap/async", {"LANG": "ADQL", "PHASE": "RUN", "QUERY": f"SELECT COUNT(*) AS n FROM {gaia}"})
    assert response.status_code == 303
    assert QueryJob.objects.get().phase == phases.COMPLETED
    assert count_translations() == 1


def test_a_job_from_the_query_page_translates_its_query_once(gaia: str, users: Any, client: Client, count_translations: Any,
                                                            django_capture_on_commit_callbacks: Any) -> None:
    client.force_login(users.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/query/", {"query": f"SELECT COUNT(*) AS n FROM {gaia}", "language": "ADQL", "queue": "quick"})
    assert response.status_code == 302 and QueryJob.objects.get().phase == phases.COMPLETED
    assert count_translations() == 1
