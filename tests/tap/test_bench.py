"""The TAP sync benchmark runs and reports our rate beside the engine's."""

from __future__ import annotations

from typing import Any

from apps.metadata.models import Table
from apps.tap.bench import bench_tap_sync


def test_it_measures_tap_sync_beside_the_raw_engine_and_leaves_nothing(db: Any) -> None:
    figures = bench_tap_sync(rows=5000)
    assert figures["rows"] == 5000
    assert figures["tap_votable_rows_per_s"] > 0 and figures["raw_engine_rows_per_s"] > 0
    assert 0 < figures["votable_vs_raw"] and figures["csv_bytes"] > 5000 * 20
    assert not Table.objects.exists()
