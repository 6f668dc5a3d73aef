"""Delete MyScratch results older than QUERY_SCRATCH_DAYS now (every worker also does it hourly: settings.PERIODIC_TASKS)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.query.actions import do_clean_scratch


class Command(BaseCommand):
    help = "Delete MyScratch results older than QUERY_SCRATCH_DAYS."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{do_clean_scratch()} MyScratch result(s) deleted.")
