from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.metadata.actions import do_publish_table, do_set_access_level
from apps.metadata.models import ACCESS_LEVELS, Table


class Command(BaseCommand):
    help = "Publish (or unpublish) SCHEMA.TABLE, optionally setting who may query it and who may see its description."

    def add_arguments(self, parser: Any) -> None:
        levels = [level for level, _ in ACCESS_LEVELS]
        parser.add_argument("table", help="schema.table")
        parser.add_argument("--unpublish", action="store_true")
        parser.add_argument("--level", choices=levels, help="Who may query the data.")
        parser.add_argument("--metadata-level", choices=levels, help="Who may see the description (default: --level).")

    def handle(self, *args: Any, table: str, unpublish: bool, level: str | None, metadata_level: str | None, **options: Any) -> None:
        schema, _, name = table.partition(".")
        found = Table.objects.select_related("schema").filter(schema__name=schema, name=name).first()
        if found is None:
            raise CommandError(f"No table {table} in the metadata (ingest or discover it first).")
        try:
            if level:
                do_set_access_level(None, found, level, metadata_level)
            do_publish_table(None, found, published=not unpublish)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        state = "unpublished" if unpublish else f"published ({found.access_level}, description {found.effective_metadata_level})"
        self.stdout.write(f"{found.qualified_name} is {state}.")
