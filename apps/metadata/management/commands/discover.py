from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.metadata.actions import do_discover_schema


class Command(BaseCommand):
    help = ("Create or refresh the metadata of a schema (or one table) from the live database, keeping hand-written descriptions. "
            "On DuckDB/Spark a HATS catalogue folder in the schema's folder is a table (positions and partitions from its properties).")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("schema")
        parser.add_argument("--table")
        parser.add_argument("--engine", default=settings.DEFAULT_ENGINE)

    def handle(self, *args: Any, schema: str, table: str | None, engine: str, **options: Any) -> None:
        try:
            tables = do_discover_schema(None, schema, engine=engine, table=table)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        for t in tables:
            layout = f", HEALPix partitions (HATS) at orders {', '.join(map(str, t.partition_orders))}" if t.partition_orders else ""
            self.stdout.write(f"{t.qualified_name}: {t.columns.count()} columns, {t.row_count} rows{layout}")
