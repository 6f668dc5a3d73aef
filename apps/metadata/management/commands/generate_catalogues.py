from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.metadata.actions import do_generate_catalogue
from apps.metadata.progress import ProgressBar
from fixtures.generator import TABLES
from workers.engines import available_engines


class Command(BaseCommand):
    help = "Generate realistic demo/benchmark catalogues (Gaia-, MaNGA-, ZTF-like) with a fixed seed and publish them."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--size", type=int, default=20_000, help="Rows per table (default 20000).")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--engine", default="duckdb", help="duckdb (default), postgresql, mariadb or spark.")
        parser.add_argument("--table", action="append", choices=TABLES, help="Only these tables (repeatable).")

    def handle(self, *args: Any, size: int, seed: int, engine: str, table: list[str] | None, **options: Any) -> None:
        if engine not in available_engines():
            raise CommandError(f"The {engine} engine is not configured (configured: {', '.join(available_engines())}).")
        if size < 1:
            raise CommandError("--size must be at least 1.")
        for key in table or TABLES:
            bar = ProgressBar(self.stdout, f"{engine} {key}")
            t = do_generate_catalogue(None, key, rows=size, seed=seed, engine=engine, progress=bar)
            bar.finish(t.row_count or 0)
