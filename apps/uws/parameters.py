"""Job parameters, each declared once: its name, how its text becomes a value, its bounds and default.

A service reads a request's parameters through these declarations only, so that
EXECUTIONDURATION means the same at job creation and at /executionduration, and a
bad value is refused with a reason (ParameterError, answered 400) wherever it comes.
Names are lower-case: UWS and TAP parameter names are case-insensitive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .documents import parse_timestamp

T = TypeVar("T")


class ParameterError(ValueError):
    """A parameter value the service refuses; the message says which parameter and why."""


@dataclass(frozen=True)
class JobParameter(Generic[T]):
    name: str
    parse: Callable[[str], T]  # of the text as sent; raises ValueError with the reason (the name is added)
    default: T
    description: str = ""

    def read(self, values: Mapping[str, str | None]) -> T:
        """The value in ``values`` (lower-case names), or the default when it is missing or blank."""
        text = values.get(self.name)
        if text is None or not text.strip():
            return self.default
        try:
            return self.parse(text)
        except ValueError as exc:
            raise ParameterError(f"{self.name.upper()} {exc}") from None


def whole_number(minimum: int = 0, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        text = text.strip()
        if not text.lstrip("+-").isdigit():
            raise ValueError(f"must be a whole number, not {text!r}.")
        value = int(text)
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            raise ValueError(f"must be {bound}, not {value}.")
        return value

    return parse


def iso_time(text: str) -> dt.datetime:
    try:
        return parse_timestamp(text.strip())
    except ValueError:
        raise ValueError(f"must be an ISO 8601 time, not {text!r}.") from None


def upper_word(text: str) -> str:
    return text.strip().upper()


def text(value: str) -> str:
    return value


# UWS 1.1 (section 2.2.3): the job's own parameters, beside the service's.
EXECUTIONDURATION: JobParameter[int] = JobParameter(
    "executionduration", whole_number(minimum=0), 0, "Seconds the job may run; 0: as long as the service allows.")
DESTRUCTION: JobParameter[dt.datetime | None] = JobParameter(
    "destruction", iso_time, None, "When the job and its results are deleted; the service may choose sooner.")
PHASE: JobParameter[str] = JobParameter("phase", upper_word, "", "RUN or ABORT.")
RUNID: JobParameter[str] = JobParameter("runid", text, "", "The client's own label for the job.")
ACTION: JobParameter[str] = JobParameter("action", upper_word, "", "DELETE, posted to the job.")

UWS_PARAMETERS: tuple[JobParameter[Any], ...] = (EXECUTIONDURATION, DESTRUCTION, PHASE, RUNID, ACTION)
