"""Tables uploaded with a query (TAP UPLOAD): queryable as TAP_UPLOAD.<name>, private to the job."""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass

UPLOAD_SCHEMA = "TAP_UPLOAD"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Upload:
    """A Parquet file (the TAP app converts VOTable/CSV uploads to it)."""

    name: str
    path: pathlib.Path

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "path": str(self.path)}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Upload:
        return cls(data["name"], pathlib.Path(data["path"]))


def check_upload_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a valid upload table name (a letter, then letters, digits or _).")
    return name
