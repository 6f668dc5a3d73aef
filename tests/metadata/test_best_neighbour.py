"""manage.py best_neighbour: the nearest row of B for each row of A, published with its metadata and joinable by id."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.adql import Catalog, translate
from apps.metadata.actions import do_ingest_file
from apps.metadata.catalog import table_info
from apps.metadata.models import Table
from tests.adql.test_crossmatch import haversine, make_catalogues
from tests.conftest import FourUsers

RADIUS_ARCSEC = 10.0


def _ingest(users: FourUsers, tmp_path: Path) -> None:
    users.owner.is_staff = True
    users.owner.save()
    for name, table in zip("ab", make_catalogues(), strict=True):
        pq.write_table(table, tmp_path / f"{name}.parquet")
        do_ingest_file(users.owner, tmp_path / f"{name}.parquet", schema="xm", table=name, engine="duckdb", layout="plain")


def _expected() -> dict[int, tuple[int, float, int]]:
    """a.id -> (nearest b.id, distance in arcsec, neighbours within the radius), by brute force."""
    a, b = make_catalogues()
    ra_a, dec_a, ra_b, dec_b = (t.column(c).to_numpy() for t in (a, b) for c in ("ra", "dec"))
    dist = haversine(ra_a[:, None], dec_a[:, None], ra_b[None, :], dec_b[None, :]) * 3600
    ids_a, ids_b = a.column("id").to_numpy(), b.column("id").to_numpy()
    out = {}
    for i, row in enumerate(dist):
        near = np.nonzero(row < RADIUS_ARCSEC)[0]
        if len(near):
            best = near[np.lexsort((ids_b[near], row[near]))[0]]
            out[int(ids_a[i])] = (int(ids_b[best]), float(row[best]), len(near))
    return out


def test_it_publishes_each_sources_nearest_neighbour_with_units_and_ucds(
        users: FourUsers, science: Path, tmp_path: Path) -> None:
    _ingest(users, tmp_path)
    call_command("best_neighbour", "xm.a", "xm.b", radius_arcsec=RADIUS_ARCSEC, into="xm.best", a_id="id", b_id="id",
                 publish="public")
    table = Table.objects.get(schema__name="xm", name="best")
    assert table.published and table.row_count == len(_expected())
    cols = {c.name: c for c in table.columns.all()}
    assert list(cols) == ["a_id", "b_id", "angular_distance", "number_of_neighbours"]
    assert (cols["angular_distance"].unit, cols["angular_distance"].ucd) == ("arcsec", "pos.angDistance")
    assert cols["a_id"].ucd == "meta.id;meta.main" and cols["b_id"].ucd == "meta.id.cross"
    assert "xm.b" in cols["b_id"].description and "a_id = id" in table.description

    rows = duckdb.connect().execute(f"SELECT * FROM read_parquet('{science}/xm/best.parquet')").fetchall()
    found = {int(a): (int(b), float(d), int(n)) for a, b, d, n in rows}
    expected = _expected()
    assert found.keys() == expected.keys()
    for a_id, (b_id, dist, n) in expected.items():
        assert found[a_id][0] == b_id and found[a_id][2] == n
        assert found[a_id][1] == pytest.approx(dist, abs=1e-6)


def test_the_best_neighbour_table_joins_both_catalogues_by_id(users: FourUsers, science: Path, tmp_path: Path) -> None:
    _ingest(users, tmp_path)
    call_command("best_neighbour", "xm.a", "xm.b", radius_arcsec=RADIUS_ARCSEC, into="xm.best", a_id="id", b_id="id")
    adql = ("SELECT a.id, b.id AS bid, best.angular_distance FROM xm.a AS a JOIN xm.best AS best ON best.a_id = a.id "
            "JOIN xm.b AS b ON b.id = best.b_id")
    catalog = Catalog([table_info(t) for t in Table.objects.filter(schema__name="xm")])
    rows = duckdb.connect().execute(translate(adql, "duckdb", catalog=catalog).sql).fetchall()
    assert {(int(a), int(b)) for a, b, _ in rows} == {(a, b) for a, (b, _, _) in _expected().items()}


def test_it_refuses_an_existing_target_and_tables_without_positions(
        users: FourUsers, science: Path, tmp_path: Path) -> None:
    _ingest(users, tmp_path)
    with pytest.raises(CommandError, match=r"new schema\.table"):
        call_command("best_neighbour", "xm.a", "xm.b", radius_arcsec=1, into="xm.b", a_id="id", b_id="id")
    with pytest.raises(CommandError, match=r"meta\.id;meta\.main"):
        call_command("best_neighbour", "xm.a", "xm.b", radius_arcsec=1, into="xm.best")
    with pytest.raises(CommandError, match="No table"):
        call_command("best_neighbour", "xm.nothing", "xm.b", radius_arcsec=1, into="xm.best", a_id="id", b_id="id")
