"""A small result is encoded in the caller's thread: a thread per response cost more than encoding ten rows.
Big results still overlap their encoding with the engine's next batch, in order."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from apps.adql import ColumnInfo as Column
from apps.formats import FORMATS, ResultInfo, parallel, write
from apps.formats.votable import info_element

COLUMNS = [Column("n", "BIGINT"), Column("name", "VARCHAR")]


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    made: list[Any] = []
    real = parallel.ThreadPoolExecutor

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(parallel, "ThreadPoolExecutor", counted)
    return made


def batch(start: int, rows: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({"n": list(range(start, start + rows)), "name": [f"s{i}" for i in range(start, start + rows)]})


@pytest.mark.parametrize("key", ["votable", "votable-td", "csv"])
def test_ten_rows_start_no_thread(key: str, pools: list[Any]) -> None:
    body = b"".join(write(FORMATS[key], iter([batch(0, 10)]), COLUMNS, ResultInfo(query="q")))
    assert b"s9" in body or key == "votable"  # BINARY2 is base64
    assert pools == []


def test_big_batches_are_encoded_on_a_thread_in_order(pools: list[Any]) -> None:
    rows = parallel.MIN_SLICE_ROWS
    body = b"".join(write(FORMATS["csv"], iter([batch(0, 5), batch(5, rows), batch(5 + rows, rows)]), COLUMNS, ResultInfo()))
    lines = body.decode().splitlines()
    assert len(pools) == 1 and [int(line.split(",")[0]) for line in lines[1:]] == list(range(5 + 2 * rows))


def test_control_characters_in_infos_become_question_marks() -> None:
    assert info_element("QUERY", "a\x01b", "tab\tline\nbell\x07") == '<INFO name="QUERY" value="a?b">tab\tline\nbell?</INFO>'
