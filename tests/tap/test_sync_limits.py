"""Synchronous TAP queries against uvicorn: a per-user (per-address when anonymous) limit answered by 429 and
Retry-After, slots freed when a client goes away, and a failure after the rows began to stream reported in a
closed VOTable (a trailing INFO QUERY_STATUS=ERROR) rather than a cut-off body."""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import pyvo
import requests
from astropy.io.votable import parse

from apps.query.models import QueryJob
from apps.uws import phases

from .conftest import PG_SCIENCE_DB, LiveTap

pytestmark = pytest.mark.django_db
LIMIT = 2
NATIVE = "postgresql"
# Four million rows (capped at the queue's 1,000,000): a client that stops reading keeps it EXECUTING.
BIG = "SELECT a.source_id, b.source_id AS other FROM gaia.source AS a, gaia.source AS b"


@pytest.fixture(scope="module")
def live_tap_env() -> dict[str, str]:
    return {"QUERY_SYNC_CONCURRENCY": str(LIMIT), "QUERY_SYNC_RETRY_AFTER_SECONDS": "7",
            "QUERY_HEARTBEAT_SECONDS": "1", "QUERY_SYNC_STALE_AFTER_SECONDS": "3"}


def sync(live: LiveTap, query: str, *, auth: tuple[str, str] | None = None, stream: bool = False,
         fmt: str = "votable", lang: str = "ADQL") -> requests.Response:
    data = {"REQUEST": "doQuery", "LANG": lang, "QUERY": query, "RESPONSEFORMAT": fmt}
    return requests.post(f"{live.url}/sync", data=data, auth=auth, stream=stream, timeout=120)


def open_stream(live: LiveTap, auth: tuple[str, str] | None = None) -> requests.Response:
    """A big result of which the client reads one chunk and then nothing: the query stays EXECUTING."""
    response = sync(live, BIG, auth=auth, stream=True)
    assert response.status_code == 200, response.text[:500]
    chunks = response.iter_content(65536)
    assert next(chunks)
    response.held = chunks  # type: ignore[attr-defined]  # a dropped iterator would close the connection
    return response


def sync_jobs(**filters: object) -> list[QueryJob]:
    return list(QueryJob.objects.filter(source=QueryJob.SOURCE_TAP_SYNC, **filters).order_by("created"))


def wait_until_final(job_ids: list[object], seconds: float = 60) -> list[QueryJob]:
    deadline = time.monotonic() + seconds
    while True:
        jobs = list(QueryJob.objects.filter(pk__in=job_ids))
        if all(j.phase in phases.FINAL for j in jobs) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.3)


def assert_limit_answer(response: requests.Response) -> None:
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.headers["Content-Type"].startswith("application/x-votable+xml")
    resource = parse(io.BytesIO(response.content)).resources[0]
    status = next(i for i in resource.infos if i.name == "QUERY_STATUS")
    assert status.value == "ERROR" and "Too many synchronous queries" in status.content


@pytest.fixture
def streams() -> Iterator[list[requests.Response]]:
    opened: list[requests.Response] = []
    yield opened
    for response in opened:
        response.close()


def test_one_user_gets_429_with_retry_after_past_the_limit_and_a_slot_back_when_a_client_leaves(
        live_tap: LiveTap, streams: list[requests.Response]) -> None:
    before = {j.pk for j in sync_jobs(owner=live_tap.user)}
    streams += [open_stream(live_tap, live_tap.auth) for _ in range(LIMIT)]
    assert_limit_answer(sync(live_tap, "SELECT TOP 1 source_id FROM gaia.source", auth=live_tap.auth))
    # The limit is the user's: an anonymous client is not refused meanwhile.
    assert sync(live_tap, "SELECT TOP 1 source_id FROM gaia.source").status_code == 200
    running = [j for j in sync_jobs(owner=live_tap.user) if j.pk not in before]
    assert len(running) == LIMIT and all(j.phase == phases.EXECUTING for j in running)  # the refused one left no job

    for response in streams:
        response.close()  # the client goes away mid-stream
    ended = wait_until_final([j.pk for j in running])
    assert [j.phase for j in ended] == [phases.ABORTED] * LIMIT, [(j.phase, j.error) for j in ended]
    assert sync(live_tap, "SELECT TOP 1 source_id FROM gaia.source", auth=live_tap.auth).status_code == 200


def test_anonymous_clients_are_limited_per_address(live_tap: LiveTap, streams: list[requests.Response]) -> None:
    streams += [open_stream(live_tap) for _ in range(LIMIT)]
    assert_limit_answer(sync(live_tap, "SELECT TOP 1 source_id FROM gaia.source"))
    assert sync(live_tap, "SELECT TOP 1 source_id FROM gaia.source", auth=live_tap.auth).status_code == 200


# --- a failure after the first rows (item: 200 with a truncated body) -------------------------------------

def failing_late_query(live: LiveTap) -> str:
    """Division by zero at the 301st row of the outer scan: some 600,000 rows (many engine batches) stream first.

    Native PostgreSQL SQL (allowed to registered users on this portal): ADQL guards its divisions with NULLIF."""
    assert live.pg_table, live.pg_error
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{PG_SCIENCE_DB}") as con:
        row = con.execute(f"SELECT source_id FROM {live.pg_table} LIMIT 1 OFFSET 300").fetchone()  # physical order
    assert row is not None
    return f"SELECT a.source_id, 1 / (a.source_id - {row[0]}) AS boom FROM {live.pg_table} AS a, {live.pg_table} AS b"


def test_a_query_failing_mid_stream_ends_its_votable_with_a_trailing_error_info(live_tap: LiveTap, tmp_path: Path) -> None:
    query = failing_late_query(live_tap)
    response = sync(live_tap, query, auth=live_tap.auth, lang=NATIVE)  # reads the whole body: a cut-off response would raise here
    assert response.status_code == 200
    document = response.content
    assert document.rstrip().endswith(b"</VOTABLE>")
    resource = parse(io.BytesIO(document)).resources[0]
    assert len(resource.tables[0].array) >= 65536  # the failure came after rows were sent
    statuses = [(i.value, i.content or "") for i in resource.infos if i.name == "QUERY_STATUS"]
    job = sync_jobs(owner=live_tap.user, query=query)[-1]
    assert [s for s, _ in statuses] == ["OK", "ERROR"] and "division by zero" in statuses[1][1], (job.native_sql, job.row_count)
    assert document.index(b'value="ERROR"') > document.index(b"</TABLE>")  # after the TABLE, inside the RESOURCE

    path = tmp_path / "failed.vot"
    path.write_bytes(document)
    lint = subprocess.run(["stilts", "votlint", f"votable={path}"], capture_output=True, text=True, timeout=300, check=False)
    assert lint.returncode == 0 and "ERROR" not in lint.stdout + lint.stderr, lint.stdout[-2000:] + lint.stderr[-2000:]

    job = sync_jobs(owner=live_tap.user, query=query)[-1]
    assert job.phase == phases.ERROR and "division by zero" in job.error and (job.row_count or 0) > 0


def test_pyvo_reports_the_mid_stream_error(live_tap: LiveTap) -> None:
    service = pyvo.dal.TAPService(live_tap.url, session=_session(live_tap))
    with pytest.raises(pyvo.dal.DALQueryError, match="division by zero"):
        service.run_sync(failing_late_query(live_tap), language=NATIVE)


def test_csv_has_no_trailer_so_a_mid_stream_failure_cuts_the_response(live_tap: LiveTap) -> None:
    response = sync(live_tap, failing_late_query(live_tap), auth=live_tap.auth, fmt="csv", stream=True, lang=NATIVE)
    assert response.status_code == 200
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for _ in response.iter_content(1 << 20):
            pass  # the rows before the failure arrive, then the connection ends without the last chunk


def _session(live: LiveTap) -> requests.Session:
    session = requests.Session()
    session.auth = live.auth
    return session
