"""Simple Cone Search 1.03 per table with positions: the cone, the required columns, VERB, MAXREC, errors,
on DuckDB and on PostgreSQL (pg_sphere/q3c through the ADQL translation)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import requests
from astropy.io.votable import parse_single_table
from lxml import etree

from tests.tap.conftest import LiveTap

pytestmark = pytest.mark.django_db
VOT = "{http://www.ivoa.net/xml/VOTable/v1.3}"


def angular_distance(ra1: np.ndarray, dec1: np.ndarray, ra2: float, dec2: float) -> np.ndarray:
    r1, d1, r2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    cos = np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(r1 - r2)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def cone(live: LiveTap, path: str, **params: str) -> requests.Response:
    return requests.get(f"{live.base}/conesearch/{path}", params=params, timeout=60)


def error_of(response: requests.Response) -> str | None:
    assert response.status_code == 200  # SCS reports errors inside the VOTable
    root = etree.fromstring(response.content)
    info = root.find(f"{VOT}INFO[@name='Error']")
    return None if info is None else info.get("value")


def a_crowded_position(live: LiveTap) -> tuple[float, float]:
    """Somewhere with sources: the position of one of them."""
    first = cone(live, "gaia/source", RA="0", DEC="0", SR="10", VERB="1", MAXREC="1")
    table = parse_single_table(io.BytesIO(first.content)).to_table()
    if len(table):
        return float(table["ra"][0]), float(table["dec"][0])
    sync = requests.get(f"{live.url}/sync", params={"LANG": "ADQL", "QUERY": "SELECT TOP 1 ra, dec FROM gaia.source"}, timeout=60)
    row = parse_single_table(io.BytesIO(sync.content)).to_table()[0]
    return float(row["ra"]), float(row["dec"])


def check_cone(live: LiveTap, path: str) -> None:
    ra, dec = a_crowded_position(live)
    response = cone(live, path, RA=str(ra), DEC=str(dec), SR="5")
    assert error_of(response) is None
    table = parse_single_table(io.BytesIO(response.content))
    ucds = {f.ucd: f.name for f in table.fields}
    assert {"ID_MAIN", "POS_EQ_RA_MAIN", "POS_EQ_DEC_MAIN"} <= set(ucds)
    data = table.to_table()
    assert len(data) >= 1
    distances = angular_distance(np.asarray(data[ucds["POS_EQ_RA_MAIN"]]), np.asarray(data[ucds["POS_EQ_DEC_MAIN"]]), ra, dec)
    assert float(distances.max()) <= 5.0 + 1e-9
    everything = requests.get(f"{live.url}/sync", params={"LANG": "ADQL", "QUERY": f"SELECT ra, dec FROM {path.replace('/', '.')}"},
                              timeout=60)
    all_rows = parse_single_table(io.BytesIO(everything.content)).to_table()
    inside = angular_distance(np.asarray(all_rows["ra"]), np.asarray(all_rows["dec"]), ra, dec) <= 5.0
    assert abs(len(data) - int(inside.sum())) <= 1  # the same cone as computed here (a source exactly on the edge may differ)


def test_it_finds_the_sources_in_the_cone_with_the_required_columns(live_tap: LiveTap) -> None:
    check_cone(live_tap, "gaia/source")


def test_it_searches_a_postgresql_table_through_pg_sphere(live_tap: LiveTap) -> None:
    assert live_tap.pg_table is not None, f"the PostgreSQL copy of the demo catalogue could not be made: {live_tap.pg_error}"
    check_cone(live_tap, live_tap.pg_table.replace(".", "/"))


def test_verbosity_chooses_the_columns_and_maxrec_cuts(live_tap: LiveTap) -> None:
    ra, dec = a_crowded_position(live_tap)
    columns = {}
    for verb in ("1", "2", "3"):
        table = parse_single_table(io.BytesIO(cone(live_tap, "gaia/source", RA=str(ra), DEC=str(dec), SR="10", VERB=verb).content))
        columns[verb] = [f.name for f in table.fields]
    assert columns["1"] == ["source_id", "ra", "dec"]
    assert len(columns["1"]) < len(columns["2"]) < len(columns["3"])
    cut = cone(live_tap, "gaia/source", RA=str(ra), DEC=str(dec), SR="10", MAXREC="2")
    assert len(parse_single_table(io.BytesIO(cut.content)).array) <= 2


@pytest.mark.parametrize(("params", "message"), [
    ({"RA": "10", "DEC": "10"}, "SR is required"),
    ({"RA": "x", "DEC": "10", "SR": "1"}, "RA must be a number"),
    ({"RA": "10", "DEC": "95", "SR": "1"}, "DEC must be between"),
    ({"RA": "10", "DEC": "10", "SR": "-1"}, "SR must be between"),
    ({"RA": "10", "DEC": "10", "SR": "1", "VERB": "7"}, "VERB must be"),
])
def test_it_reports_bad_parameters_as_scs_errors(live_tap: LiveTap, params: dict[str, str], message: str) -> None:
    assert message in (error_of(cone(live_tap, "gaia/source", **params)) or "")


def test_it_has_no_cone_search_for_unknown_tables_and_lists_the_services(live_tap: LiveTap) -> None:
    assert "no cone search" in (error_of(cone(live_tap, "gaia/nothing", RA="1", DEC="1", SR="1")) or "")
    page = requests.get(f"{live_tap.base}/conesearch/", timeout=30).text
    assert "/conesearch/gaia/source" in page and "/conesearch/ztf/lightcurves" in page
