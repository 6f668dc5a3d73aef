"""Many TAP requests at once against one uvicorn process on PostgreSQL: none fails, and the process holds
no more portal connections than its pool allows (persistent per-thread connections piled up and ran
PostgreSQL out of connections: "too many clients")."""

from __future__ import annotations

import io
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
import requests
from astropy.io.votable import parse

from .conftest import LiveTap

pytestmark = pytest.mark.django_db
POOL = 6
CLIENTS = 200
APP_NAME = f"tap-pool-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def live_tap_env() -> dict[str, str]:
    # The defaults but a small pool; the per-user sync limit is out of the way (every request comes from 127.0.0.1).
    return {"DB_POOL_MAX_SIZE": str(POOL), "DB_APPLICATION_NAME": APP_NAME, "QUERY_SYNC_CONCURRENCY": str(CLIENTS * 2)}


def portal_connections() -> int:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as con:
        row = con.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (APP_NAME,)).fetchone()
    return int(row[0]) if row else 0


class Sampler(threading.Thread):
    """The most portal connections seen while the requests run (every 20 ms)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.samples, self.stop = 0, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, portal_connections())
            self.samples += 1


def _requests(live: LiveTap) -> list[tuple[str, dict[str, Any]]]:
    """A mix: sync queries on DuckDB and PostgreSQL (anonymous and with a token), metadata, availability."""
    duck = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": "SELECT TOP 20 source_id, ra, dec FROM gaia.source ORDER BY source_id"}
    mix: list[tuple[str, dict[str, Any]]] = []
    for i in range(CLIENTS):
        kind = i % 5
        if kind in (0, 1):
            mix.append(("sync", {"data": duck, "auth": live.auth if i < 5 else None}))
        elif kind == 2 and live.pg_table:
            query = f"SELECT TOP 20 source_id, ra FROM {live.pg_table} ORDER BY source_id"
            mix.append(("sync", {"data": {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query}}))
        elif kind == 3:
            mix.append(("tables", {}))
        else:
            mix.append(("availability", {}))
    return mix


def _send(live: LiveTap, start: threading.Barrier, what: str, kwargs: dict[str, Any]) -> str:
    """'' when the answer is whole and right, else what went wrong."""
    start.wait()
    try:
        if what == "sync":
            response = requests.post(f"{live.url}/sync", timeout=120, **kwargs)
        else:
            response = requests.get(f"{live.url}/{what}", timeout=120, **kwargs)
    except requests.RequestException as exc:  # a connection cut mid-body counts as a failure too
        return f"{what}: {type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return f"{what}: HTTP {response.status_code}: {response.text[:300]}"
    if what == "sync":
        resource = parse(io.BytesIO(response.content)).resources[0]
        statuses = [i.value for i in resource.infos if i.name == "QUERY_STATUS"]
        if statuses != ["OK"] or len(resource.tables[0].array) != 20:
            return f"sync: {statuses} {len(resource.tables[0].array)} rows"
    return ""


def test_two_hundred_concurrent_requests_all_succeed_within_the_pool_bound(live_tap: LiveTap) -> None:
    assert live_tap.pg_table, live_tap.pg_error
    mix = _requests(live_tap)
    sampler = Sampler()
    sampler.start()
    start = threading.Barrier(len(mix))
    began = time.monotonic()
    try:
        with ThreadPoolExecutor(len(mix)) as pool:
            outcomes = list(pool.map(lambda item: _send(live_tap, start, *item), mix))
    finally:
        sampler.stop.set()
        sampler.join()
    failures = [o for o in outcomes if o]
    print(f"{len(mix)} concurrent requests in {time.monotonic() - began:.1f} s; peak {sampler.peak} portal connections (pool {POOL})")
    assert not failures, f"{len(failures)} of {len(mix)} failed, e.g. {failures[:3]}"
    assert sampler.samples > 5 and sampler.peak >= 1  # the sampler saw the portal at work
    assert sampler.peak <= POOL, f"the process held {sampler.peak} connections; its pool allows {POOL}"
    assert portal_connections() <= POOL
