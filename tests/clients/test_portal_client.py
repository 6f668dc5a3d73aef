"""The portal's own client library (what notebook sessions and batch jobs import) against the running portal:
TAP sync and async on the user's behalf, DataFrames with their types, MyDB tables, an engine asked for."""

from __future__ import annotations

import pytest

from apps.compute.client.daiquiri_client import Portal, PortalError
from tests.tap.conftest import LiveTap

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def portal(live_tap: LiveTap) -> Portal:
    return Portal(url=live_tap.base, token=live_tap.token)


def test_a_sync_query_arrives_as_a_dataframe_with_its_types(portal: Portal) -> None:
    df = portal.query_df("SELECT TOP 5 source_id, ra, phot_g_mean_mag FROM gaia.source ORDER BY source_id")
    assert list(df.columns) == ["source_id", "ra", "phot_g_mean_mag"] and len(df) == 5
    assert str(df.dtypes["source_id"]) == "int64" and str(df.dtypes["ra"]) == "float64"
    assert df["source_id"].is_monotonic_increasing


def test_an_async_job_is_kept_in_mydb_and_read_back_as_dataframes(portal: Portal) -> None:
    job = portal.submit("SELECT TOP 7 source_id, dec FROM gaia.source ORDER BY dec", table="client_bright")
    assert portal.wait(job, timeout=120) == "COMPLETED"
    result = portal.result_df(job)
    assert len(result) == 7 and result["dec"].is_monotonic_increasing
    kept = portal.mydb_df("client_bright")
    assert sorted(kept["source_id"]) == sorted(result["source_id"])


def test_the_engine_asked_for_runs_the_query_and_a_bad_one_is_refused_with_a_reason(portal: Portal) -> None:
    assert len(portal.query("SELECT TOP 2 ra FROM gaia.source", engine="duckdb")) == 2
    with pytest.raises(PortalError) as refused:
        portal.query("SELECT TOP 2 ra FROM gaia.source", engine="oracle")
    assert "400" in str(refused.value) and "oracle" in str(refused.value).lower()


def test_a_mistake_in_the_query_is_told_not_hidden(portal: Portal) -> None:
    with pytest.raises(PortalError) as refused:
        portal.query_df("SELECT nosuchcolumn FROM gaia.source")
    assert "nosuchcolumn" in str(refused.value)
