"""Helpers for the writer tests: run a writer to bytes, validate VOTables (XSD, votlint), read with STIL."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import astropy.io.votable
import pyarrow as pa
import pytest
from lxml import etree

from apps.adql import ColumnInfo as ColumnLike
from apps.formats import FORMATS, ResultInfo, write

from .sample import COLUMNS, batches

XSD = Path(astropy.io.votable.__file__).parent / "data" / "VOTable.v1.4.xsd"


def render(key: str, data: Iterable[pa.RecordBatch] | None = None, columns: Sequence[ColumnLike] = COLUMNS,
           info: ResultInfo | None = None) -> bytes:
    return b"".join(write(FORMATS[key], batches() if data is None else data, columns, info or ResultInfo(query="SELECT * FROM cat.src")))


@pytest.fixture(scope="session")
def xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def stilts() -> str:
    found = shutil.which("stilts")
    assert found, "stilts is missing: scripts/services installs it (apt-get install -y stilts)"
    return found


@pytest.fixture
def votlint(tmp_path: Path) -> Callable[[bytes], list[str]]:
    """The messages of `stilts votlint` on a document (an empty list when clean)."""
    def run(document: bytes) -> list[str]:
        path = tmp_path / "lint.vot"
        path.write_bytes(document)
        done = subprocess.run([stilts(), "votlint", f"votable={path}"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "JAVA_TOOL_OPTIONS": "-Xmx256m"})
        return [line for line in (done.stdout + done.stderr).splitlines() if line.strip() and "Picked up JAVA_TOOL_OPTIONS" not in line]
    return run


@pytest.fixture
def stil_csv(tmp_path: Path) -> Callable[[bytes, str], str]:
    """The table as STIL (TOPCAT's reader) sees it, converted to CSV by `stilts tpipe`."""
    def run(document: bytes, ifmt: str) -> str:
        path = tmp_path / f"in.{ifmt}"
        path.write_bytes(document)
        done = subprocess.run([stilts(), "tpipe", f"in={path}", f"ifmt={ifmt}", "ofmt=csv"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "JAVA_TOOL_OPTIONS": "-Xmx256m"})
        assert done.returncode == 0, done.stderr
        return done.stdout
    return run
