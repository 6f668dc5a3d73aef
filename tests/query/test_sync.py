"""Synchronous queries (what TAP sync calls): streamed from the engine, recorded as a job."""

from __future__ import annotations

from typing import Any

import pytest

from apps.adql import AdqlError
from apps.query import actions
from apps.query.models import QueryJob
from apps.uws import phases

pytestmark = pytest.mark.django_db


def test_it_streams_rows_and_records_a_tap_sync_job(users: Any, stars: Any) -> None:
    result = actions.run_sync(users.owner, query="SELECT source_id, mag FROM TAP_UPLOAD.stars ORDER BY source_id", uploads=[stars])
    assert [c.name for c in result.columns] == ["source_id", "mag"]
    rows = sum(b.num_rows for b in result.batches)
    assert rows == 1000 and not result.overflow
    job = QueryJob.objects.get(source=QueryJob.SOURCE_TAP_SYNC)
    assert job.phase == phases.COMPLETED and job.row_count == 1000 and job.owner == users.owner


def test_maxrec_cuts_the_stream_and_flags_overflow(users: Any, stars: Any) -> None:
    result = actions.run_sync(None, query="SELECT source_id FROM TAP_UPLOAD.stars", uploads=[stars], maxrec=7)
    assert sum(b.num_rows for b in result.batches) == 7
    assert result.overflow


def test_a_bad_query_raises_with_a_message_and_is_recorded(users: Any) -> None:
    with pytest.raises(AdqlError) as error:
        actions.run_sync(users.owner, query="SELECT FROM WHERE")
    assert error.value.message
    job = QueryJob.objects.get(source=QueryJob.SOURCE_TAP_SYNC)
    assert job.phase == phases.ERROR and job.error.startswith("Query error")
