"""DataLink tests: the demo catalogues, a data volume of spectra, and link templates on the Gaia-like table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps.datalink.models import FILE, TAP, URL, LinkTemplate
from apps.files.actions import do_sync_roots
from apps.files.models import Volume
from tests.tap.conftest import _own_folders, demo, live_tap, live_tap_env

__all__ = ["_own_folders", "demo", "live_tap", "live_tap_env"]
SPECTRUM_ID = "123456789"
SPECTRUM = b"SIMPLE  =                    T" + b" " * 50  # a few bytes standing in for a FITS file


@pytest.fixture
def spectra(settings: Any, tmp_path: Path, db: None) -> Volume:
    """A data volume (read by every registered user, not anonymous visitors) with one spectrum."""
    folder = tmp_path / "spectra-root"
    (folder / "spectra").mkdir(parents=True)
    (folder / "spectra" / f"{SPECTRUM_ID}.fits").write_bytes(SPECTRUM)
    settings.FILES_QUOTA_FILESYSTEMS = False
    settings.FILES_ROOTS = [{"name": "spectra", "kind": "data", "path": folder, "description": "Spectra"}]
    root = next(r for r in do_sync_roots() if r.name == "spectra")
    return Volume.objects.get(root=root, owner=None)


@pytest.fixture
def templates(demo: Any, spectra: Volume) -> list[LinkTemplate]:
    gaia = demo[0]
    specs = [
        dict(kind=FILE, template="spectra/{id}.fits", volume=spectra, semantics="#auxiliary", content_qualifier="#spectrum",
             description="Spectrum of the source", content_type="application/fits"),
        dict(kind=TAP, template="SELECT * FROM ztf.lightcurves WHERE oid = {id}", semantics="#auxiliary",
             content_qualifier="#timeseries", description="Light curve (TAP query)"),
        dict(kind=URL, template="https://archive.example.org/source/{id}", semantics="#auxiliary",
             description="The source in the external archive", content_type="text/html"),
    ]
    made = []
    for order, spec in enumerate(specs):
        template = LinkTemplate(table=gaia, id_column="source_id", order=order, **spec)
        template.full_clean()
        template.save()
        made.append(template)
    return made
