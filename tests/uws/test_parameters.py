"""Job parameters declared once: each reads its text the same way wherever it comes, and refuses bad values with a reason."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.tap import params as tap
from apps.uws.parameters import DESTRUCTION, EXECUTIONDURATION, PHASE, ParameterError


def test_it_reads_values_and_gives_defaults_for_missing_or_blank_ones() -> None:
    assert EXECUTIONDURATION.read({"executionduration": " 30 "}) == 30
    assert EXECUTIONDURATION.read({}) == 0 and EXECUTIONDURATION.read({"executionduration": "  "}) == 0
    assert DESTRUCTION.read({"destruction": "2030-01-02T03:04:05Z"}) == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert DESTRUCTION.read({}) is None
    assert PHASE.read({"phase": " run"}) == "RUN"
    assert tap.MAXREC.read({"maxrec": "0"}) == 0 and tap.MAXREC.read({}) is None


@pytest.mark.parametrize(("parameter", "value", "reason"), [
    (EXECUTIONDURATION, "soon", "EXECUTIONDURATION must be a whole number, not 'soon'."),
    (EXECUTIONDURATION, "-5", "EXECUTIONDURATION must be at least 0, not -5."),
    (EXECUTIONDURATION, "1.5", "EXECUTIONDURATION must be a whole number, not '1.5'."),
    (DESTRUCTION, "tomorrow", "DESTRUCTION must be an ISO 8601 time, not 'tomorrow'."),
    (tap.MAXREC, "-1", "MAXREC must be at least 0, not -1."),
])
def test_it_refuses_a_bad_value_naming_the_parameter_and_the_reason(parameter: object, value: str, reason: str) -> None:
    with pytest.raises(ParameterError) as refused:
        parameter.read({parameter.name: value})  # type: ignore[attr-defined]
    assert str(refused.value) == reason


def test_every_parameter_a_tap_job_knows_is_declared_once() -> None:
    declared = [p.name for p in (*tap.TAP_PARAMETERS,)] + ["executionduration", "destruction", "phase", "runid", "action"]
    assert len(declared) == len(set(declared)) and tap.KNOWN == frozenset(declared)
