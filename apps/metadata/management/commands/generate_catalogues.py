"""``manage.py generate_catalogues --size 10M``: Gaia-, MaNGA- and ZTF-like catalogues, one schema per size.

The schema carries the size (``gaia_10m.source``), so a second size never overwrites the first. On the
Parquet engines gaia.source is stored HEALPix-sorted, as HATS partitions or as one file sorted by
source_id (``--layout``, apps/metadata/generate.py), in bounded memory, resumable, with progress.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.metadata.actions import do_generate_catalogue
from apps.metadata.generate import HATS, LAYOUTS, generate_gaia, parse_size, scale_schema_name
from apps.metadata.progress import ProgressBar
from fixtures.generator import TABLES, metadata
from workers.engines import available_engines


class Command(BaseCommand):
    help = "Generate realistic demo/benchmark catalogues (Gaia-, MaNGA-, ZTF-like) with a fixed seed and publish them."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--size", default="20000", help="Rows per table: 20000, 10M, 100M, 1B (default 20000).")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--engine", default="duckdb", help="duckdb (default), postgresql, mariadb or spark.")
        parser.add_argument("--table", action="append", choices=TABLES, help="Only these tables (repeatable).")
        parser.add_argument("--layout", choices=LAYOUTS, default=HATS,
                            help="gaia.source on DuckDB/Spark: hats (HEALPix partitions, default) or sorted (one file by source_id).")

    def handle(self, *args: Any, size: str, seed: int, engine: str, table: list[str] | None, layout: str = HATS,
               **options: Any) -> None:
        if engine not in available_engines():
            raise CommandError(f"The {engine} engine is not configured (configured: {', '.join(available_engines())}).")
        try:
            rows = parse_size(size)
        except ValueError as exc:
            raise CommandError(f"--size: {exc}") from exc
        for key in table or TABLES:
            schema = scale_schema_name(metadata(key)["schema"]["name"], rows, engine)
            bar = ProgressBar(self.stdout, f"{engine} {schema}.{key.split('.')[1]}")
            if key == "gaia.source":
                t = generate_gaia(rows, seed, engine, schema, layout=layout, progress=bar, sort_progress=self._sorting)
            else:
                t = do_generate_catalogue(None, key, rows=rows, seed=seed, engine=engine, progress=bar, schema_name=schema)
            bar.finish(t.row_count or 0)

    def _sorting(self, done: int, total: int | None) -> None:
        self.stdout.write(f"\r  sorting by source_id: {100 * done / (total or 1):5.1f}%", ending="")
        self.stdout.flush()
