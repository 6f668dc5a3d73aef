"""The scale scenario (apps/query/bench_scale.py) at a tiny size: every goal row of issue #14 printed with a ratio.

It runs the whole path: the generator's HATS table, TAP sync, raw DuckDB, the cross-match in a child
process (which reads this test's database: hence a committed transaction), Spark through the Connect
server the test services start, and the MaNGA scenario it reuses. LSDB is left out (its first run
compiles for minutes); its row must still say so.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from apps.core.fingerprint import configuration_fingerprint
from apps.core.models import WorkerHeartbeat
from apps.query.bench_scale import _worker_pids, _workers_cpu, _workers_rss_mb

GOAL_ROWS = (
    "cone 0.1 deg, TAP sync", "cone 1 deg, TAP sync", "hpx5 aggregate, TAP sync", "hpx5 aggregate, Spark engine",
    "at 1\", TAP sync", "Spark engine", "peak RSS of the web process", "MaNGA shape, Spark engine",
)


@pytest.mark.django_db(transaction=True)
def test_it_prints_every_goal_row_with_a_ratio(settings: Any, tmp_path: Path) -> None:
    from apps.query import bench
    from apps.query.bench_scale import bench_scale

    settings.VAR_DIR = tmp_path / "var"
    settings.SPARK_REMOTE = os.environ.get("SPARK_REMOTE") or "sc://127.0.0.1:15002"
    bench.configure()  # the MaNGA scenario's PostgreSQL, as `manage.py bench` sets it up
    lines: list[str] = []
    out = bench_scale(lines.append, 4000, repeats=1, manga_rows=3000, lsdb=False)
    text = "\n".join(lines)
    for goal in GOAL_ROWS:
        found = [line for line in lines if goal in line]
        assert found, f"no row for {goal!r} in:\n{text}"
        assert all(re.search(r"\d\.\d\dx|\d\.\dx raw", line) for line in found), f"{goal!r} without a ratio:\n{text}"
    assert any("LSDB" in line and "skipped" in line for line in lines)
    assert out["xmatch_pairs"] == out["raw_xmatch_pairs"] >= 400  # every probe finds its source, ours as the zone join
    assert 0 < out["xmatch_peak_mb"] < 6 * 1024


# A query worker as the bench finds it: a main process (its heartbeat names it) whose pool process does the work.
POOL_PROCESS = ("import sys, time\n"
                "sys.stdin.readline()\n"
                "started = time.process_time()\n"
                "while time.process_time() - started < 0.5:\n"
                "    pass\n"
                "print('spun', flush=True)\n"
                "sys.stdin.readline()\n")
WORKER_MAIN = "import subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1]])"


@pytest.mark.django_db
def test_it_counts_the_cpu_and_memory_of_the_query_workers_pool_processes() -> None:
    worker = subprocess.Popen([sys.executable, "-c", WORKER_MAIN, POOL_PROCESS], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        now = timezone.now()
        WorkerHeartbeat.objects.create(name=f"celery@{socket.gethostname()}:{worker.pid}", started=now, seen=now,
                                       fingerprint=configuration_fingerprint())
        WorkerHeartbeat.objects.create(name=f"celery@{socket.gethostname()}:{os.getpid()}", started=now, seen=now,
                                       fingerprint="another configuration")
        assert _worker_pids() == [worker.pid]
        before = _workers_cpu([worker.pid])
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
        assert worker.stdout.readline().strip() == "spun"
        assert _workers_cpu([worker.pid]) - before >= 0.45  # the pool process's work, not only the main process's
        assert _workers_rss_mb([worker.pid]) > 1
    finally:
        worker.kill()
        worker.wait()
