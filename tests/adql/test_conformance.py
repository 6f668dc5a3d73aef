"""The IVOA lyonetia corpus: every valid query accepted, every invalid one rejected."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.adql.conformance import run_corpus

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "lyonetia" / "src" / "adql"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared conformance corpus not present")
def test_it_accepts_all_valid_and_rejects_all_invalid_lyonetia_queries() -> None:
    outcomes = run_corpus(CORPUS)
    valid = [o for o in outcomes if o.case.valid]
    invalid = [o for o in outcomes if not o.case.valid]
    failures = [(o.case.file, o.case.query.strip(), o.error) for o in outcomes if not o.passed]
    assert (len(valid), len(invalid)) == (413, 82)
    assert failures == []
