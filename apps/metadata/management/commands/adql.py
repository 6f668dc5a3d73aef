"""``manage.py adql``: translate ADQL to an engine's SQL, optionally checked
against the portal's metadata (``--check``)."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.management.base import BaseCommand, CommandError

from apps.adql.catalog import Catalog
from apps.adql.cli import run_jsonl, translate_one
from apps.adql.dialects import DIALECTS
from apps.metadata.catalog import catalog_for


def _portal_catalog() -> Catalog:
    # What anyone may query: the anonymous user's view of the metadata.
    return catalog_for(user=AnonymousUser())


class Command(BaseCommand):
    help = "Translate ADQL to SQL for one engine (one query, or JSON lines on stdin with --jsonl)."
    # A pure translation needs no configured site; --check reaches the database itself.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--dialect", choices=DIALECTS, default="postgresql")
        parser.add_argument("--jsonl", action="store_true",
                            help='read {"query": ...} lines on stdin, write one result per line')
        parser.add_argument("--check", action="store_true",
                            help="validate tables, columns and functions against the metadata")
        parser.add_argument("query", nargs="?")

    def handle(self, *args: Any, **opts: Any) -> None:
        factory = _portal_catalog if opts["check"] else (lambda: None)
        if opts["jsonl"]:
            run_jsonl(sys.stdin, self.stdout, opts["dialect"], factory)
            return
        if not opts["query"]:
            raise CommandError("give a query, or --jsonl to read JSON lines on stdin")
        result = translate_one(opts["query"], opts["dialect"], factory())
        if not result["ok"]:
            raise CommandError(json.dumps(result))
        self.stdout.write(result["sql"])
