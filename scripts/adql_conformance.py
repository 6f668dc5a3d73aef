#!/usr/bin/env python
"""Run the IVOA lyonetia ADQL corpus and report accepted/rejected counts.

Usage: python scripts/adql_conformance.py [--translate] [CORPUS_DIR]
(default: ../shared/conformance/lyonetia/src/adql relative to the repository root).
Exits non-zero unless every valid query is accepted and every invalid one rejected
by the parser. With --translate it also translates every query (without metadata)
to each dialect and prints the figures per dialect.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.adql.conformance import Outcome, run_corpus  # noqa: E402
from apps.adql.dialects import DIALECTS  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "conformance" / "lyonetia" / "src" / "adql"


def figures(outcomes: list[Outcome]) -> tuple[int, int, int, int]:
    valid = [o for o in outcomes if o.case.valid]
    invalid = [o for o in outcomes if not o.case.valid]
    return sum(o.passed for o in valid), len(valid), sum(o.passed for o in invalid), len(invalid)


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if a != "--translate"]
    corpus = Path(args[0]) if args else DEFAULT_CORPUS
    if not corpus.is_dir():
        print(f"corpus not found: {corpus}", file=sys.stderr)
        return 2
    outcomes = run_corpus(corpus)
    for o in outcomes:
        if not o.passed:
            verdict = "rejected valid" if o.case.valid else "accepted invalid"
            query = " ".join(o.case.query.split())
            print(f"FAIL {verdict}: {o.case.file} {o.case.uuid}\n  {query}\n  {o.error}")
    ok_valid, n_valid, ok_invalid, n_invalid = figures(outcomes)
    print(f"valid accepted: {ok_valid}/{n_valid}")
    print(f"invalid rejected: {ok_invalid}/{n_invalid}")
    if "--translate" in argv:
        for dialect in DIALECTS:
            v, nv, i, ni = figures(run_corpus(corpus, dialect))
            print(f"translated to {dialect}: valid {v}/{nv}, invalid rejected {i}/{ni}")
    return 0 if ok_valid == n_valid and ok_invalid == n_invalid else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
