"""A burst of parallel synchronous queries from one user: as many as the limit run and the rest are refused
(the review's 30 parallel sync queries gave 500s and slowed every page)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from apps.query import actions, sync
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)  # the requests run in threads of their own
QUERY = "SELECT TOP 3 table_name FROM TAP_SCHEMA.tables"
LIMIT, BURST = 3, 12


def test_a_burst_from_one_user_runs_the_limit_and_refuses_the_rest(settings: Any) -> None:
    settings.QUERY_SYNC_CONCURRENCY = LIMIT
    user = make_user("burst")
    start = threading.Barrier(BURST)

    def request(_: int) -> actions.SyncResult | None:
        start.wait()
        try:
            return actions.run_sync(user, query=QUERY)
        except sync.SyncLimitReached:
            return None
        finally:
            connection.close()

    with ThreadPoolExecutor(BURST) as pool:
        results = list(pool.map(request, range(BURST)))
    running = [r for r in results if r is not None]
    # At least the limit runs (nobody is refused because of those refused after him); an overshoot needs
    # an insert racing another's count within milliseconds.
    assert LIMIT <= len(running) <= LIMIT + 2, len(running)
    for result in running:
        assert sum(b.num_rows for b in result.batches) == 3
    assert len(running) + sum(r is None for r in results) == BURST
    # Slots free again: the next request runs.
    assert sum(b.num_rows for b in actions.run_sync(user, query=QUERY).batches) == 3
