from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.metadata.actions import LAYOUTS, do_ingest_file, do_publish_table, do_set_access_level
from apps.metadata.files import FORMATS
from apps.metadata.progress import ProgressBar

HATS_OPTIONS = {"partition_rows": "pixel_threshold", "margin_arcsec": "margin_arcsec", "workers": "workers"}


class Command(BaseCommand):
    help = "Load a FITS, VOTable, CSV or Parquet file into an engine as SCHEMA.TABLE, keeping its units, UCDs and descriptions."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--schema", required=True)
        parser.add_argument("--table", required=True)
        parser.add_argument("--engine", default=settings.DEFAULT_ENGINE)
        parser.add_argument("--format", choices=FORMATS, help="Default: from the file name.")
        parser.add_argument("--replace", action="store_true", help="Replace an existing table.")
        parser.add_argument("--chunk-rows", type=int, default=100_000)
        parser.add_argument("--publish", choices=["public", "internal", "private"], help="Publish at once with this access level.")
        parser.add_argument("--layout", choices=LAYOUTS, default="auto",
                            help="DuckDB/Spark: hats = HEALPix partitions (HATS layout), plain = one Parquet file; "
                                 "auto = hats for tables with positions from INGEST_HATS_MIN_ROWS rows (default).")
        parser.add_argument("--partition-rows", type=int, help="HATS: at most this many rows per partition (default 1000000).")
        parser.add_argument("--margin-arcsec", type=float, help="HATS: width of the margin cache (default 5).")
        parser.add_argument("--workers", type=int, help="HATS: processes sorting and writing partitions (default 2).")

    def handle(self, *args: Any, file: Path, schema: str, table: str, engine: str, format: str | None, replace: bool,
               chunk_rows: int, publish: str | None, layout: str, **options: Any) -> None:
        if not file.exists():
            raise CommandError(f"No such file: {file}")
        hats = {key: options[option] for option, key in HATS_OPTIONS.items() if options.get(option) is not None}
        bar = ProgressBar(self.stdout, f"{file.name} -> {engine} {schema}.{table}")
        try:
            t = do_ingest_file(None, file, schema=schema, table=table, engine=engine, fmt=format, replace=replace,
                               chunk_rows=chunk_rows, progress=bar, layout=layout, hats=hats)
        except (ValidationError, ValueError, FileExistsError) as exc:
            raise CommandError("; ".join(getattr(exc, "messages", [str(exc)]))) from None
        bar.finish(t.row_count or 0)
        if t.partition_orders:
            self.stdout.write(f"Stored as HEALPix partitions (HATS) at orders {', '.join(map(str, t.partition_orders))}.")
        if publish:
            do_set_access_level(None, t, publish)
            do_publish_table(None, t)
            self.stdout.write(f"Published {t.qualified_name} ({publish}).")
