"""Sizes, schema names and the resumable parts of the scale generator (apps/metadata/generate.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from apps.metadata.generate import parse_size, scale_schema_name, size_label, write_parts


def test_it_reads_sizes_with_suffixes() -> None:
    assert [parse_size(t) for t in ("20000", "10M", "100m", "1B", "2.5k")] == [20_000, 10**7, 10**8, 10**9, 2500]
    for bad in ("", "ten", "1.5", "0", "-3M"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_it_names_one_schema_per_size_and_engine() -> None:
    assert [size_label(n) for n in (10**7, 10**8, 20_000, 1234, 10**9)] == ["10m", "100m", "20k", "1234", "1b"]
    assert scale_schema_name("gaia", 10**7, "duckdb") == "gaia_10m"
    assert scale_schema_name("gaia", 10**8, "spark") == "gaia_100m_spark"


def test_it_resumes_at_the_first_missing_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import apps.metadata.generate as generate

    monkeypatch.setattr(generate, "PART_CHUNKS", 1)
    monkeypatch.setattr("fixtures.generator.CHUNK", 1000)
    parts = write_parts(3500, 1, tmp_path)
    first = [p.stat().st_mtime_ns for p in parts]
    third = pq.read_table(parts[2])
    parts[2].unlink()
    again = write_parts(3500, 1, tmp_path)
    assert [p.stat().st_mtime_ns for p in again[:2]] == first[:2]  # finished parts are not written again
    assert sum(pq.read_metadata(p).num_rows for p in again) == 3500
    assert pq.read_table(again[2]).equals(third)  # the redone part is the same data
