"""FITS image previews: a small PNG with a percentile/asinh stretch, north up, read with a stride."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from astropy.io import fits
from PIL import Image

from apps.files.previews import IMAGE_SIDE, make_preview


def _png(data_url: str) -> Image.Image:
    assert data_url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))


def _write(path: Path, data: np.ndarray, **header: float) -> Path:
    hdu = fits.PrimaryHDU(data)
    for key, value in header.items():
        hdu.header[key] = value
    hdu.writeto(path)
    return path


def test_a_large_image_is_shown_small_stretched_and_north_up(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    data = rng.normal(100, 5, (1500, 2000)).astype(np.float32)
    data[:20, :20] = 5000  # a bright source in the first FITS rows: the bottom of the sky image
    data[700, 900] = np.nan
    path = _write(tmp_path / "sky.fits", data, BSCALE=1.0, BZERO=0.0)
    preview = make_preview("sky.fits", path.open("rb"))
    hdu = preview["hdus"][0]
    assert hdu["shape"] == [1500, 2000]
    image = _png(hdu["image"])
    assert max(image.size) <= IMAGE_SIDE and image.mode == "L"
    pixels = np.asarray(image)
    assert pixels[-1, 0] == 255 and pixels[0, 0] < 255  # bright bottom-left, as on the sky
    assert 20 < np.median(pixels) < 235  # the stretch spreads the background, neither black nor white


def test_a_cube_shows_its_first_plane_and_an_empty_image_shows_none(tmp_path: Path) -> None:
    cube = np.zeros((3, 40, 50), dtype=np.int16)
    cube[0] = np.arange(50)[None, :]
    preview = make_preview("cube.fits", _write(tmp_path / "cube.fits", cube).open("rb"))
    assert _png(preview["hdus"][0]["image"]).size == (50, 40)
    nans = np.full((10, 10), np.nan, dtype=np.float32)
    assert make_preview("nan.fits", _write(tmp_path / "nan.fits", nans).open("rb"))["hdus"][0]["image"] is None
