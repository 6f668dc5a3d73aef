"""Sky coverage (MOC) of positional tables: it holds every row, its area is the footprint's, and it is served."""

from __future__ import annotations

import io
from typing import Any

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from django.test import Client
from lxml import etree
from mocpy import MOC

from apps.metadata.actions import do_generate_catalogue
from apps.metadata.models import Table
from apps.query.planning import plan_query
from apps.registry.actions import do_compute_coverage
from apps.registry.models import TableCoverage
from workers.engines import get_engine

from .schemas import assert_valid_record

# The generator's footprints: Gaia-like all sky; ZTF-like north of declination -30 degrees.
FOOTPRINTS = {"gaia.source": (1.0, 20_000), "ztf.lightcurves": ((1 - np.sin(np.radians(-30))) / 2, 300_000)}


def positions(table: Table) -> tuple[np.ndarray, np.ndarray]:
    ra, dec = table.position_columns
    plan = plan_query(None, query=f"SELECT {ra}, {dec} FROM {table.qualified_name}")
    batches = list(get_engine(plan.engine).stream(plan.sql, timeout_s=600, job_id="moc-test"))
    return (np.concatenate([b.column(0).to_numpy() for b in batches]), np.concatenate([b.column(1).to_numpy() for b in batches]))


@pytest.mark.parametrize("key", sorted(FOOTPRINTS))
def test_the_moc_of_a_demo_table_holds_every_row_and_covers_its_footprint(db: None, key: str) -> None:
    fraction, rows = FOOTPRINTS[key]
    table = do_generate_catalogue(None, key, rows=rows, engine="duckdb")
    coverage = do_compute_coverage(table)
    assert coverage is not None
    moc = MOC.from_string(coverage.moc, format="ascii")
    ra, dec = positions(table)
    assert coverage.rows == len(ra) == table.row_count
    assert moc.contains_lonlat(ra * u.deg, dec * u.deg).all()  # every row inside
    print(f"{key}: order {coverage.order}, sky fraction {coverage.sky_fraction:.3f} (footprint {fraction:.3f})")
    assert fraction * 0.97 <= coverage.sky_fraction <= min(1.0, fraction * 1.10)


def test_publishing_a_positional_table_computes_its_moc_after_commit(db: None, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        table = do_generate_catalogue(None, "gaia.source", rows=2000, engine="duckdb")
    assert TableCoverage.objects.filter(table=table, rows=2000).exists()


def test_the_moc_is_served_drawn_and_in_the_registry_record(demo: Any, client: Client, settings: Any) -> None:
    settings.REGISTRY_AUTHORITY = "data.example.org"
    gaia = demo[0]
    coverage = do_compute_coverage(gaia)
    assert coverage is not None
    text = client.get("/registry/coverage/gaia/source.txt")
    assert text.status_code == 200 and text.content.decode().strip() == coverage.moc
    with fits.open(io.BytesIO(client.get("/registry/coverage/gaia/source.fits").content)) as hdus:
        assert hdus[1].header["MOCVERS"] == "2.0" and hdus[1].header["MOCORD_S"] == coverage.order
    svg = client.get("/registry/coverage/gaia/source.svg")
    assert svg["Content-Type"] == "image/svg+xml" and etree.fromstring(svg.content).findall(".//{*}polygon")
    assert client.get("/registry/coverage/gaia/source.png").status_code == 404
    page = client.get("/data/gaia/source/").content.decode()
    assert "/registry/coverage/gaia/source.svg" in page and "ivo://data.example.org/gaia/source" in page
    record = etree.fromstring(client.get("/registry/oai", {"verb": "GetRecord", "metadataPrefix": "ivo_vor",
                                                           "identifier": "ivo://data.example.org/gaia/source"}).content)
    resource = record.find(".//{http://www.ivoa.net/xml/RegistryInterface/v1.0}Resource")
    assert resource.findtext("coverage/spatial") == coverage.moc
    assert_valid_record(resource)
    gaia.published = False
    gaia.save()
    assert client.get("/registry/coverage/gaia/source.txt").status_code == 404


def test_the_command_computes_the_coverage_of_tables_published_before(demo: Any) -> None:
    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("compute_coverage", "gaia.source", stdout=out)
    assert "gaia.source: order" in out.getvalue()
    assert TableCoverage.objects.filter(table=demo[0]).exists() and not TableCoverage.objects.filter(table=demo[1]).exists()
    with pytest.raises(CommandError, match=r"nope\.nope"):
        call_command("compute_coverage", "nope.nope")
