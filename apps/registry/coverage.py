"""Sky coverage of positional tables: a MOC (IVOA MOC 2.0, via mocpy/cdshealpix) from their positions, and its map.

``moc_from_positions(batches, order)`` reads (ra, dec) Arrow batches in constant memory
(only the set of HEALPix cells grows, never the rows) and returns the MOC of the cells
holding a row; ``sky_map_svg(moc)`` draws it in a plate carrée projection (RA growing
to the left, as on the sky) as a small SVG the table page shows without any script.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import astropy.units as u
import numpy as np
import pyarrow as pa
from astropy_healpix import HEALPix
from mocpy import MOC

MAX_ORDER = 10  # cells of about 3.4 arcmin: the finest a footprint is drawn at
PER_CELL = 8
WIDTH, HEIGHT = 720, 360


@dataclass(frozen=True)
class Coverage:
    moc: MOC
    order: int
    rows: int

    @property
    def ascii(self) -> str:
        return str(self.moc.to_string(format="ascii"))

    @property
    def sky_fraction(self) -> float:
        return float(self.moc.sky_fraction)


def _cells(moc: MOC, order: int) -> int:
    return len((moc.degrade_to_order(order) if order < moc.max_order else moc).flatten())


def moc_from_positions(batches: Iterable[pa.RecordBatch], max_order: int = MAX_ORDER) -> Coverage:
    """The MOC of the positions, at the deepest order the data fill (see PER_CELL)."""
    moc = MOC.new_empty(max_order)
    rows = 0
    for batch in batches:
        ra = np.asarray(batch.column(0).to_numpy(zero_copy_only=False), dtype=float)
        dec = np.asarray(batch.column(1).to_numpy(zero_copy_only=False), dtype=float)
        keep = np.isfinite(ra) & np.isfinite(dec) & (dec >= -90) & (dec <= 90)
        if keep.any():
            rows += int(keep.sum())
            moc = moc.union(MOC.from_lonlat((ra[keep] % 360) * u.deg, dec[keep] * u.deg, max_norder=max_order))
    distinct = _cells(moc, max_order)  # positions told apart at the finest order
    # The deepest order whose occupied cells hold PER_CELL distinct positions on average: dense data get sharp
    # edges; sparse data (or data whose density varies) are not drawn as a scatter of dots with holes between.
    order = next((o for o in range(max_order, -1, -1) if _cells(moc, o) * PER_CELL <= distinct), 0)
    return Coverage(moc.degrade_to_order(order) if order < moc.max_order else moc, order, rows)


def _x(lon: np.ndarray) -> np.ndarray:
    return (360.0 - lon) / 360.0 * WIDTH  # RA increases to the left


def _y(lat: np.ndarray) -> np.ndarray:
    return (90.0 - lat) / 180.0 * HEIGHT


def sky_map_svg(moc_ascii: str, *, title: str = "Sky coverage") -> str:
    """An SVG of the MOC's cells (drawn at order 6 at most, so the page stays light) over an RA/Dec grid."""
    moc = MOC.from_string(moc_ascii, format="ascii") if moc_ascii.strip() else None
    polygons: list[str] = []
    if moc is not None and not moc.empty():
        coarse = moc.degrade_to_order(6) if moc.max_order > 6 else moc
        ipix, depth = coarse.flatten(), coarse.max_order
        lon, lat = HEALPix(nside=2**depth, order="nested").boundaries_lonlat(ipix, step=1)
        lon_deg, lat_deg = np.asarray(lon.to_value(u.deg)), np.asarray(lat.to_value(u.deg))
        for cell_lon, cell_lat in zip(lon_deg, lat_deg, strict=True):
            if cell_lon.max() - cell_lon.min() > 180:  # a cell across RA 0: draw it on the high side
                cell_lon = np.where(cell_lon < 180, cell_lon + 360, cell_lon)
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(_x(cell_lon), _y(cell_lat), strict=True))
            polygons.append(f'<polygon points="{points}"/>')
    grid = [f'<line x1="{_x(np.array([ra]))[0]:.0f}" y1="0" x2="{_x(np.array([ra]))[0]:.0f}" y2="{HEIGHT}"/>' for ra in range(0, 361, 60)]
    grid += [f'<line x1="0" y1="{_y(np.array([dec]))[0]:.0f}" x2="{WIDTH}" y2="{_y(np.array([dec]))[0]:.0f}"/>' for dec in range(-60, 61, 30)]
    labels = [f'<text x="{_x(np.array([ra]))[0] + 3:.0f}" y="{HEIGHT - 4}">{ra}°</text>' for ra in range(0, 360, 60)]
    from xml.sax.saxutils import escape

    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
            f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#f4f6fa" stroke="#999"/>'
            f'<g fill="#2a6fdb" fill-opacity="0.75" stroke="none">{"".join(polygons)}</g>'
            f'<g stroke="#bbb" stroke-width="0.5">{"".join(grid)}</g>'
            f'<g font-size="10" fill="#555" font-family="sans-serif">{"".join(labels)}</g></svg>')
