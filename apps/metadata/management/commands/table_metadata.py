from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.metadata.actions import do_import_metadata
from apps.metadata.models import Table
from apps.metadata.votable import metadata_votable


class Command(BaseCommand):
    help = "Export a table's metadata as a VOTable sidecar, or import units, UCDs and descriptions from one."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("direction", choices=["export", "import"])
        parser.add_argument("table", help="schema.table")
        parser.add_argument("file", type=Path, help="The VOTable to write or read ('-' exports to standard output).")
        parser.add_argument("--overwrite", action="store_true", help="On import, replace what is already written.")

    def handle(self, *args: Any, direction: str, table: str, file: Path, overwrite: bool, **options: Any) -> None:
        schema, _, name = table.partition(".")
        found = Table.objects.select_related("schema").filter(schema__name=schema, name=name).first()
        if found is None:
            raise CommandError(f"No table {table} in the metadata.")
        if direction == "export":
            body = metadata_votable(found)
            if str(file) == "-":
                self.stdout.write(body.decode())
            else:
                file.write_bytes(body)
            return
        try:
            changed = do_import_metadata(None, found, str(file), overwrite=overwrite)
        except (ValidationError, ValueError, OSError) as exc:
            raise CommandError("; ".join(getattr(exc, "messages", [str(exc)]))) from None
        self.stdout.write(f"Updated {changed} column(s) of {found.qualified_name}.")
