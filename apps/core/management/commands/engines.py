"""Inspect and prepare the query engines (workers/engines/).

    manage.py engines              # which engines are configured and answer
    manage.py engines setup        # idempotent: roles, grants, extensions, folders
    manage.py engines bench [--rows N]  # PostgreSQL download rows/s beside COPY TO STDOUT
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from workers.engines import available_engines, get_engine
from workers.engines.base import EngineError
from workers.engines.bench import bench_download


class Command(BaseCommand):
    help = "List, set up or benchmark the configured query engines."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", nargs="?", choices=["list", "setup", "bench"], default="list")
        parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the download benchmark")
        parser.add_argument("--repeat", type=int, default=3)

    def handle(self, *args: Any, action: str, rows: int, repeat: int, **options: Any) -> None:
        if action == "bench":
            try:
                self.stdout.write(bench_download(rows=rows, repeat=repeat).report())
            except EngineError as e:
                raise CommandError(str(e)) from e
            return
        for name in available_engines():
            started = time.perf_counter()
            try:
                engine = get_engine(name)
                if action == "setup":
                    engine.setup()
                engine.introspect("mydb_0")  # a cheap round trip
                if name == "spark":  # the Parquet store answers without Spark: ask the server
                    getattr(engine, "spark").sql("SELECT 1").collect()  # noqa: B009
                status = f"ok ({(time.perf_counter() - started) * 1000:.0f} ms)"
            except EngineError as e:
                status = f"FAILED: {e}"
            self.stdout.write(f"{name:<11} {status}")
