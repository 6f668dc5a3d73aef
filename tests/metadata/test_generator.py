"""The demo/benchmark catalogues: reproducible, realistic, fully described."""

from __future__ import annotations

import io
from pathlib import Path

import astropy.units as u
import duckdb
import numpy as np
import pyarrow as pa
from astropy_healpix import HEALPix
from django.core.management import call_command

from apps.metadata.models import Table
from apps.metadata.validators import validate_ucd, validate_vounit
from fixtures.generator import TABLES, arrow_schema, galactic_to_icrs, generate, healpix_nested, metadata


def _table(name: str, rows: int, seed: int = 42) -> pa.Table:
    return pa.Table.from_batches(list(generate(name, rows, seed)))


def test_the_same_seed_gives_the_same_catalogue() -> None:
    for name in TABLES:
        assert _table(name, 3000).equals(_table(name, 3000))
        assert not _table(name, 3000).equals(_table(name, 3000, seed=7))


def test_healpix_nested_indices_agree_with_astropy_healpix() -> None:
    rng = np.random.default_rng(3)
    ra, dec = rng.uniform(0, 360, 50000), np.degrees(np.arcsin(rng.uniform(-1, 1, 50000)))
    for level in (0, 3, 12):
        expected = HEALPix(nside=2**level, order="nested").lonlat_to_healpix(ra * u.deg, dec * u.deg)
        assert np.array_equal(healpix_nested(level, ra, dec), expected)


def test_gaia_source_ids_encode_the_level_12_healpix_index() -> None:
    gaia = _table("gaia.source", 5000)
    ra, dec = gaia["ra"].to_numpy(), gaia["dec"].to_numpy()
    assert np.array_equal(gaia["source_id"].to_numpy() // 2**35, healpix_nested(12, ra, dec))
    assert len(set(gaia["source_id"].to_pylist())) == 5000


def test_gaia_stars_crowd_toward_the_galactic_plane() -> None:
    b = np.abs(_table("gaia.source", 20000)["b"].to_numpy())
    # |b| < 10 deg is 17 % of the sky; the disc puts far more there.
    assert (b < 10).mean() > 0.5
    ra, dec = galactic_to_icrs(np.array([0.0]), np.array([0.0]))
    assert abs(ra[0] - 266.405) < 0.01 and abs(dec[0] + 28.936) < 0.01  # the Galactic centre


def test_gaia_values_are_plausible() -> None:
    gaia = _table("gaia.source", 20000)
    g = gaia["phot_g_mean_mag"].to_numpy()
    assert 3 <= g.min() and g.max() < 22 and np.median(g) > 18
    assert gaia["radial_velocity"].null_count > 0.5 * len(gaia)
    err = gaia["parallax_error"].to_numpy()
    assert np.median(err[g > 19]) > 3 * np.median(err[g < 15])


def test_manga_spaxels_mark_bad_spaxels_with_binid_minus_one() -> None:
    manga = _table("manga.spaxels", 30000)
    binid = manga["binid"].to_numpy()
    ha = manga["ha_flux"].to_numpy()
    assert 0.05 < (binid == -1).mean() < 0.6
    assert (ha[binid == -1] == 0).all() and (ha[binid >= 0] > 0).all()
    assert all("-" in p for p in manga["plateifu"].unique().to_pylist())


def test_ztf_light_curves_have_many_epochs_per_object() -> None:
    ztf = _table("ztf.lightcurves", 30000)
    assert set(ztf["filtercode"].unique().to_pylist()) <= {"zg", "zr", "zi"}
    assert len(ztf) / len(ztf["oid"].unique()) > 20


def test_every_column_has_valid_fixture_metadata() -> None:
    for name in TABLES:
        meta = metadata(name)
        assert [c["name"] for c in meta["columns"]] == arrow_schema(name).names
        for c in meta["columns"]:
            validate_vounit(c["unit"])
            validate_ucd(c["ucd"])
            assert c["description"]


def test_generate_catalogues_publishes_queryable_tables(db: None, science: Path) -> None:
    out = io.StringIO()
    call_command("generate_catalogues", "--size", "5000", "--seed", "1", stdout=out)
    assert {t.qualified_name for t in Table.objects.filter(published=True)} == {f"{s}_5k.{t}" for s, t in (n.split(".") for n in TABLES)}
    gaia = Table.objects.get(name="source")
    assert gaia.row_count == 5000 and gaia.columns.get(name="parallax").unit == "mas" and gaia.citation
    dataset = f"{science}/gaia_5k/source/source/dataset/**/*.parquet"  # HATS: the catalogue beside its margin cache
    assert duckdb.connect().execute(f"SELECT COUNT(*) FROM read_parquet('{dataset}')").fetchone() == (5000,)
    call_command("generate_catalogues", "--size", "5000", "--table", "gaia.source", stdout=out)  # re-run: replaced, not duplicated
    call_command("generate_catalogues", "--size", "6K", "--table", "gaia.source", "--layout", "sorted", stdout=out)
    assert Table.objects.get(schema__name="gaia_5k", name="source").row_count == 5000  # another size, another schema
    sorted_copy, hats_copy = Table.objects.get(schema__name="gaia_6k", name="source"), Table.objects.get(schema__name="gaia_5k", name="source")
    assert sorted_copy.row_count == 6000
    assert (sorted_copy.healpix_column, sorted_copy.healpix_order, sorted_copy.healpix_shift) == ("source_id", 12, 35)  # what pruning reads
    assert hats_copy.healpix_column == "_healpix_29" and hats_copy.partition_orders
    ids = duckdb.connect().execute(f"SELECT source_id FROM read_parquet('{science}/gaia_6k/source.parquet')").fetchnumpy()["source_id"]
    assert len(ids) == 6000 and (ids[1:] >= ids[:-1]).all()


def test_the_demo_loads_in_seconds(db: None, science: Path) -> None:
    import time

    from apps.metadata.demo import load_demo

    started = time.monotonic()
    load_demo(io.StringIO(), "small")
    assert time.monotonic() - started < 20
    assert Table.objects.filter(published=True, access_level="public").count() == 3
