"""Plots of big results: the sky density map is counted by the engine per HEALPix pixel; the sky plot's
default axes come from the UCDs (pos.eq.ra / pos.eq.dec), not from the scatter plot's X/Y."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.test import Client

from apps.adql import ColumnInfo
from apps.query.views import plot_defaults

pytestmark = pytest.mark.django_db


def test_the_sky_density_map_counts_every_row_per_healpix_pixel_in_the_engine(users: Any, run_job: Any, stars: Any) -> None:
    job = run_job(users.owner, "SELECT * FROM TAP_UPLOAD.stars", uploads=[stars], table_name="cat")
    client = Client()
    client.force_login(users.owner)
    answer = client.get(f"/query/jobs/{job.id}/plot", {"kind": "skydensity", "x": "ra", "y": "dec", "order": 2}).json()
    assert answer["total"] == 1000 and sum(answer["n"]) == 1000
    assert len(answer["n"]) <= 12 * 4**2 and answer["order"] == 2
    assert all(0 <= ra < 360 for ra in answer["ra"]) and all(-90 <= d <= 90 for d in answer["dec"])
    from astropy import units as u
    from astropy_healpix import HEALPix

    hp = HEALPix(nside=4, order="nested")
    rows = client.get(f"/query/jobs/{job.id}/rows", {"limit": 1000}).json()["rows"]
    ra, dec = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
    expected = np.bincount(hp.lonlat_to_healpix(ra * u.deg, dec * u.deg), minlength=hp.npix)
    assert sorted(answer["n"]) == sorted(int(n) for n in expected if n)
    assert client.get(f"/query/jobs/{job.id}/plot", {"kind": "skydensity", "x": "ra", "y": "name"}).status_code == 400


def test_the_sky_axes_come_from_the_ucds() -> None:
    columns = [ColumnInfo("x_pos", "DOUBLE", ucd="pos.eq.ra;meta.main"), ColumnInfo("mag", "DOUBLE"),
               ColumnInfo("y_pos", "DOUBLE", ucd="pos.eq.dec;meta.main")]
    defaults = plot_defaults(columns)
    assert defaults["ra"] == "x_pos" and defaults["dec"] == "y_pos"
    assert plot_defaults([ColumnInfo("a", "DOUBLE")])["ra"] == ""


def test_the_density_plot_counts_every_row_in_the_engine(users: Any, run_job: Any, stars: Any) -> None:
    job = run_job(users.owner, "SELECT * FROM TAP_UPLOAD.stars", uploads=[stars], table_name="cat")
    client = Client()
    client.force_login(users.owner)
    answer = client.get(f"/query/jobs/{job.id}/plot", {"kind": "density", "x": "ra", "y": "mag"}).json()
    assert answer["total"] == 1000 and sum(answer["n"]) == 1000
    assert all(0 <= i < answer["bins"] for i in answer["i"]) and all(0 <= j < answer["bins"] for j in answer["j"])
    assert 0 <= answer["x"][0] < answer["x"][1] <= 360
    assert client.get(f"/query/jobs/{job.id}/plot", {"kind": "density", "x": "ra", "y": "name"}).status_code == 400
