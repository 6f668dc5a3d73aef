"""Fixtures for the VO services: private folders per test, small demo catalogues, a live server."""

from __future__ import annotations

import base64
import pathlib
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User

from apps.accounts.actions import do_create_token

DEMO_ROWS = 2000


@pytest.fixture(autouse=True)
def _own_folders(settings: Any, tmp_path: pathlib.Path) -> None:
    """Each test gets its own var dir (uploads, MyDB) and science dir, so parallel runs never collide."""
    settings.VAR_DIR = tmp_path / "var"
    settings.SCIENCE_DIR = tmp_path / "science"
    settings.MYDB_DIR = tmp_path / "mydb"
    for folder in (settings.VAR_DIR, settings.SCIENCE_DIR, settings.MYDB_DIR):
        pathlib.Path(folder).mkdir(parents=True, exist_ok=True)


@pytest.fixture
def demo(db: None) -> list[Any]:
    """The demo Gaia-like and ZTF-like tables, public, in DuckDB (the embedded default)."""
    from apps.metadata.actions import do_generate_catalogue

    return [do_generate_catalogue(None, key, rows=DEMO_ROWS, engine="duckdb") for key in ("gaia.source", "ztf.lightcurves")]


def basic_auth(user: User) -> str:
    """An Authorization header with the user name and a fresh API token as the password (what TOPCAT sends)."""
    _, key = do_create_token(user, f"tests {uuid.uuid4().hex[:8]}")
    return "Basic " + base64.b64encode(f"{user.username}:{key}".encode()).decode()
