"""``python -m apps.adql --dialect duckdb [--jsonl | QUERY]`` without Django."""

from __future__ import annotations

import argparse
import json
import sys

from .cli import run_jsonl, translate_one
from .dialects import DIALECTS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m apps.adql", description=__doc__)
    p.add_argument("--dialect", choices=DIALECTS, default="postgresql")
    p.add_argument("--jsonl", action="store_true", help="read JSON lines on standard input")
    p.add_argument("query", nargs="?")
    args = p.parse_args(argv)
    if args.jsonl:
        run_jsonl(sys.stdin, sys.stdout, args.dialect)
        return 0
    if not args.query:
        p.error("give a query or --jsonl")
    result = translate_one(args.query, args.dialect, None)
    if result["ok"]:
        print(result["sql"])
        return 0
    print(json.dumps(result), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
