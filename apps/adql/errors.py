"""The one exception type of the ADQL library."""

from __future__ import annotations


class AdqlError(Exception):
    """A query the library refuses, with an astronomer-readable message.

    ``line`` and ``column`` are 1-based and point into the ADQL text when the
    problem has a place (a syntax error, an unknown column); otherwise None.
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        self.message = message
        self.line = line
        self.column = column
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(message + where)
