"""``manage.py compute_coverage [schema.table ...]``: (re)compute the MOC of published positional tables.

Tables published before coverage existed, or whose data changed without a new row count, get theirs here.
Without arguments: every published table with positions.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.metadata.models import Table
from apps.registry.actions import do_compute_coverage


class Command(BaseCommand):
    help = "Compute the sky coverage (MOC) of published positional tables."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tables", nargs="*", help="schema.table names (default: all published positional tables)")

    def handle(self, *args: Any, **options: Any) -> None:
        tables = Table.objects.filter(published=True, position_columns__isnull=False).select_related("schema", "resource")
        names = options["tables"]
        chosen = [t for t in tables if not names or t.qualified_name in names]
        missing = set(names) - {t.qualified_name for t in chosen}
        if missing:
            raise CommandError(f"No published positional table {', '.join(sorted(missing))}.")
        for table in chosen:
            coverage = do_compute_coverage(table)
            if coverage is not None:
                self.stdout.write(f"{table}: order {coverage.order}, {coverage.area_deg2:,.0f} deg², {coverage.rows} positions")
