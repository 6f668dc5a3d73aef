"""The command-line protocol shared by ``python -m apps.adql`` and ``manage.py adql``.

JSON lines: one ``{"query": "..."}`` per input line, one result per output line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from .catalog import Catalog
from .errors import AdqlError
from .translate import translate


class Writer(Protocol):
    def write(self, text: str) -> object: ...

    def flush(self) -> object: ...


def translate_one(query: str, dialect: str, catalog: Catalog | None) -> dict[str, Any]:
    try:
        t = translate(query, dialect, catalog=catalog)
    except AdqlError as e:
        return {"ok": False, "error": e.message, "line": e.line, "column": e.column}
    return {"ok": True, "sql": t.sql}


def _request(line: str) -> str:
    obj = json.loads(line)
    if not isinstance(obj, dict) or not isinstance(obj.get("query"), str):
        raise ValueError("each line must be a JSON object with a string 'query'")
    return obj["query"]


def run_jsonl(lines: Iterable[str], out: Writer, dialect: str,
              catalog_factory: Callable[[], Catalog | None] = lambda: None) -> int:
    """Translate each request line; returns how many failed."""
    catalog = catalog_factory()
    failures = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            result = translate_one(_request(line), dialect, catalog)
        except ValueError as e:  # bad JSON is reported like a bad query
            result = {"ok": False, "error": f"bad request line: {e}", "line": None, "column": None}
        failures += not result["ok"]
        out.write(json.dumps(result) + "\n")
        out.flush()
    return failures
