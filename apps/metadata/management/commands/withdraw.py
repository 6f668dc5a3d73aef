"""Withdraw a table (hide it, keep its data), restore it, or delete it with its data: the admin's three actions."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.metadata.actions import do_delete_table, do_restore_table, do_withdraw_table
from apps.metadata.models import Table


class Command(BaseCommand):
    help = ("Withdraw SCHEMA.TABLE: hidden from everyone (TAP, TAP_SCHEMA, VOSI, pages), data kept. "
            "--restore brings it back; --delete-data deletes the table and its data in the engine, for good.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("table", help="schema.table")
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--restore", action="store_true", help="Make a withdrawn table visible again.")
        what.add_argument("--delete-data", action="store_true", help="Delete the table and its data (cannot be undone).")

    def handle(self, *args: Any, table: str, restore: bool, delete_data: bool, **options: Any) -> None:
        schema, _, name = table.partition(".")
        found = Table.objects.select_related("schema").filter(schema__name=schema, name=name).first()
        if found is None:
            raise CommandError(f"No table {table} in the metadata.")
        try:
            if delete_data:
                do_delete_table(None, found, drop_data=True)
                self.stdout.write(f"Deleted {table} and its data in {found.schema.engine}.")
            elif restore:
                do_restore_table(None, found)
                self.stdout.write(f"Restored {table}.")
            else:
                do_withdraw_table(None, found)
                self.stdout.write(f"Withdrew {table}: hidden from everyone, its data kept (--restore brings it back).")
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
