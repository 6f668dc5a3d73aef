"""Fixtures of the query tests: per-test storage, a small star catalogue as an upload, job running helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apps.query import actions
from apps.query.models import QueryJob
from apps.query.uploads import Upload


@pytest.fixture(autouse=True)
def _query_storage(settings: Any, tmp_path: Path) -> Iterator[None]:
    """Each test stores results in its own folder, on DuckDB, with eager tasks."""
    from daiquiri.celery import app

    settings.MYDB_DIR = tmp_path / "mydb"
    settings.SCIENCE_DIR = tmp_path / "science"
    settings.DEFAULT_ENGINE = "duckdb"
    from workers.engines import reset_engines

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    reset_engines()  # engines are made once per process, with the storage folders of their time
    yield
    reset_engines()
    app.conf.task_always_eager = eager


def star_table(n: int = 1000, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "source_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "ra": pa.array(rng.uniform(0, 360, n)),
        "dec": pa.array(np.degrees(np.arcsin(rng.uniform(-1, 1, n)))),
        "mag": pa.array(rng.normal(15, 2, n)),
        "name": pa.array([f"star {i}" for i in range(1, n + 1)]),
    })


@pytest.fixture
def stars(tmp_path: Path) -> Upload:
    path = tmp_path / "stars.parquet"
    pq.write_table(star_table(), path)
    return Upload("stars", path)


@pytest.fixture
def run_job(django_capture_on_commit_callbacks: Any) -> Callable[..., QueryJob]:
    """Create and run a job through the actions, as the pages do; eager Celery runs it on commit."""

    def run(owner: Any, query: str, **kwargs: Any) -> QueryJob:
        with django_capture_on_commit_callbacks(execute=True):
            job = actions.do_create_job(owner, query=query, **kwargs)
            actions.do_run_job(job)
        job.refresh_from_db()
        return job

    return run
