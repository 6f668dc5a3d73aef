"""Fixtures for file tests: roots in a private temp folder, a data volume with a CSV and a FITS file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from django.test import Client

from apps.files.actions import do_create_volume, do_sync_roots
from apps.files.areas import release_areas
from apps.files.models import RootVolume, Volume

QUOTA = 10_000


def make_data_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "stars.csv").write_text("id,mag\n1,12.5\n2,13.1\n3,9.8\n")
    table = Table({"id": np.arange(5), "ra": np.linspace(10, 11, 5)})
    table["ra"].unit = "deg"
    hdus = fits.HDUList([fits.PrimaryHDU(np.zeros((4, 3))), fits.BinTableHDU(table, name="STARS")])
    hdus[0].header["TELESCOP"] = "Test scope"
    hdus.writeto(path / "image.fits")
    return path


def configure_roots(settings: Any, base: Path, quota: int = QUOTA, filesystems: bool = False) -> None:
    """Test roots under ``base``. ``filesystems``: users' areas become size-limited file systems as in
    production (apps/files/areas.py); the caller then releases them (``release_roots``)."""
    settings.FILES_QUOTA_FILESYSTEMS = filesystems
    settings.FILES_ROOTS = [
        {"name": "Storage", "kind": "storage", "path": base / "storage", "quota": quota},
        {"name": "Temporary", "kind": "temporary", "path": base / "temporary", "max_age_days": 1, "quota": quota},
        {"name": "survey", "kind": "data", "path": make_data_dir(base / "survey"), "description": "A test survey"},
    ]


def release_roots(base: Path) -> None:
    """Unmount the area file systems a test made under ``base`` (and free their loop devices)."""
    for name in ("storage", "temporary"):
        release_areas(base / name)


@pytest.fixture
def roots(settings: Any, tmp_path: Path, db: None) -> Iterator[dict[str, RootVolume]]:
    configure_roots(settings, tmp_path / "files", filesystems=True)
    yield {r.name: r for r in do_sync_roots()}
    release_roots(tmp_path / "files")


@pytest.fixture
def volume(users: Any, roots: dict[str, RootVolume]) -> Volume:
    """A Storage volume of users.owner, shared with nobody."""
    return do_create_volume(users.owner, roots["Storage"], "project")


def client_for(user: Any) -> Client:
    client = Client()
    if user.is_authenticated:
        client.force_login(user)
    return client


def api(volume: Volume, op: str) -> str:
    return f"/files/api/volumes/{volume.pk}/{op}/"
