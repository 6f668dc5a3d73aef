#!/usr/bin/env python
"""Run the IVOA lyonetia ADQL corpus and report accepted/rejected counts.

Usage: python scripts/adql_conformance.py [CORPUS_DIR]
(default: ../shared/conformance/lyonetia/src/adql relative to the repository root).
Exits non-zero unless every valid query is accepted and every invalid one rejected.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.adql.conformance import run_corpus  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "conformance" / "lyonetia" / "src" / "adql"


def main(argv: list[str]) -> int:
    corpus = Path(argv[1]) if len(argv) > 1 else DEFAULT_CORPUS
    if not corpus.is_dir():
        print(f"corpus not found: {corpus}", file=sys.stderr)
        return 2
    outcomes = run_corpus(corpus)
    valid = [o for o in outcomes if o.case.valid]
    invalid = [o for o in outcomes if not o.case.valid]
    ok_valid = sum(o.passed for o in valid)
    ok_invalid = sum(o.passed for o in invalid)
    for o in outcomes:
        if not o.passed:
            verdict = "rejected valid" if o.case.valid else "accepted invalid"
            query = " ".join(o.case.query.split())
            print(f"FAIL {verdict}: {o.case.file} {o.case.uuid}\n  {query}\n  {o.error}")
    print(f"valid accepted: {ok_valid}/{len(valid)}")
    print(f"invalid rejected: {ok_invalid}/{len(invalid)}")
    return 0 if ok_valid == len(valid) and ok_invalid == len(invalid) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
