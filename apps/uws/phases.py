"""UWS 1.1 execution phases and the transitions the standard allows."""

from __future__ import annotations

PENDING = "PENDING"
QUEUED = "QUEUED"
EXECUTING = "EXECUTING"
COMPLETED = "COMPLETED"
ERROR = "ERROR"
ABORTED = "ABORTED"
UNKNOWN = "UNKNOWN"
HELD = "HELD"
SUSPENDED = "SUSPENDED"
ARCHIVED = "ARCHIVED"

ALL = (PENDING, QUEUED, EXECUTING, COMPLETED, ERROR, ABORTED, UNKNOWN, HELD, SUSPENDED, ARCHIVED)
FINAL = frozenset({COMPLETED, ERROR, ABORTED, ARCHIVED})
ACTIVE = frozenset({QUEUED, EXECUTING})

# phase -> phases it may move to
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({QUEUED, ABORTED, ERROR, HELD}),
    HELD: frozenset({QUEUED, ABORTED}),
    QUEUED: frozenset({EXECUTING, ABORTED, ERROR}),
    EXECUTING: frozenset({COMPLETED, ERROR, ABORTED, SUSPENDED}),
    SUSPENDED: frozenset({EXECUTING, ABORTED, ERROR}),
    COMPLETED: frozenset({ARCHIVED}),
    ERROR: frozenset({ARCHIVED}),
    ABORTED: frozenset({ARCHIVED}),
    ARCHIVED: frozenset(),
    UNKNOWN: frozenset(ALL),
}


class TransitionError(ValueError):
    pass


def check_transition(current: str, new: str) -> None:
    if new not in TRANSITIONS.get(current, frozenset()):
        raise TransitionError(f"A job in phase {current} cannot go to {new}.")


# What a client may ask for with PHASE=... on a job.
RUN = "RUN"
ABORT = "ABORT"
# While a job is in one of these, a blocking WAIT may wait for a change.
WAITABLE = frozenset({PENDING, QUEUED, EXECUTING, HELD, SUSPENDED})


def parse_phase_filter(values: list[str]) -> list[str]:
    """The PHASE= filter of a job list; unknown phases are the client's error."""
    found = []
    for value in values:
        phase = value.strip().upper()
        if phase not in ALL:
            raise ValueError(f"{value!r} is not a UWS phase; the phases are {', '.join(ALL)}.")
        found.append(phase)
    return found
