"""The JSON-lines command line: ``python -m apps.adql`` and ``manage.py adql``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from apps.adql import Catalog
from apps.adql.cli import run_jsonl

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = ('{"query": "SELECT TOP 3 a FROM t"}\n'
            '{"query": "SELECT a\\nFROM t WHERE"}\n'
            "\n"
            "not json\n")


def check_replies(out: str) -> None:
    replies = [json.loads(line) for line in out.splitlines()]
    assert replies[0] == {"ok": True, "sql": 'SELECT "a" AS "a" FROM "t" AS "t" LIMIT 3'}
    assert replies[1]["ok"] is False and (replies[1]["line"], replies[1]["column"]) == (2, 13)
    assert "expected a value" in replies[1]["error"]
    assert replies[2]["ok"] is False and replies[2]["line"] is None
    assert len(replies) == 3


def test_it_answers_one_json_line_per_request() -> None:
    out = io.StringIO()
    failures = run_jsonl(io.StringIO(REQUESTS), out, "duckdb")
    assert failures == 2
    check_replies(out.getvalue())


def test_it_runs_as_a_module_without_django() -> None:
    proc = subprocess.run([sys.executable, "-m", "apps.adql", "--dialect", "duckdb", "--jsonl"],
                          input=REQUESTS, capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    check_replies(proc.stdout)
    assert "django" not in subprocess.run(
        [sys.executable, "-c", "import sys, apps.adql, apps.adql.cli; print(sorted(sys.modules))"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=True).stdout.lower()


def test_it_runs_through_manage_py() -> None:
    proc = subprocess.run([sys.executable, "manage.py", "adql", "--dialect", "duckdb", "--jsonl"],
                          input=REQUESTS, capture_output=True, text=True, cwd=ROOT, timeout=120, check=True)
    check_replies(proc.stdout)
    one = subprocess.run([sys.executable, "manage.py", "adql", "--dialect", "mariadb", "SELECT a || b FROM t"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120, check=True)
    assert one.stdout.strip() == "SELECT CONCAT(`a`, `b`) AS `expr` FROM `t` AS `t`"


def test_it_checks_against_the_portal_metadata(monkeypatch: pytest.MonkeyPatch, catalog: Catalog) -> None:
    from django.core.management import call_command

    import apps.metadata.catalog

    monkeypatch.setattr(apps.metadata.catalog, "catalog_for", lambda user: catalog)
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"query": "SELECT phot_g_mag FROM gaia.source"}\n'))
    out = io.StringIO()
    call_command("adql", "--check", "--jsonl", stdout=out)
    reply = json.loads(out.getvalue())
    assert reply["ok"] is False and "did you mean phot_g_mean_mag" in reply["error"]
