"""The running portal (uvicorn) as VO clients see it: a registry harvests it, TOPCAT follows a result's DataLink."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.tap.conftest import LiveTap

from .schemas import assert_valid_record
from .test_oai import NS

HERE = Path(__file__).resolve().parent
# The database must exist for the server: the tests themselves only talk HTTP (their own transaction stays empty).
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def live_tap_env() -> dict[str, str]:
    return {"REGISTRY_PAGE_SIZE": "2", "REGISTRY_AUTHORITY": "live.example.org"}


@pytest.fixture(scope="module")
def linked(live_tap: LiveTap, django_db_blocker: Any) -> Iterator[LiveTap]:
    """Link templates on the DuckDB Gaia-like table (committed: the server reads them)."""
    from apps.datalink.models import TAP, URL, LinkTemplate
    from apps.metadata.models import Table

    with django_db_blocker.unblock():
        gaia = Table.objects.get(schema__name="gaia", name="source")
        LinkTemplate.objects.create(table=gaia, id_column="source_id", kind=TAP, semantics="#auxiliary",
                                    template="SELECT TOP 5 * FROM gaia.source WHERE source_id = {id}", description="The row again")
        LinkTemplate.objects.create(table=gaia, id_column="source_id", kind=URL, semantics="#preview",
                                    template="https://archive.example.org/preview/{id}.png", description="Preview",
                                    content_type="image/png")
    yield live_tap


def get(url: str) -> etree._Element:
    with urllib.request.urlopen(url, timeout=60) as response:
        return etree.fromstring(response.read())


def test_a_registry_harvests_the_running_portal_record_by_record(live_tap: LiveTap) -> None:
    base = f"{live_tap.base}/registry/oai"
    root = get(f"{base}?verb=ListRecords&metadataPrefix=ivo_vor")
    identifiers, answers = [], 1
    while True:
        for record in root.iterfind("oai:ListRecords/oai:record", NS):
            resource = record.find("oai:metadata/ri:Resource", NS)
            assert_valid_record(resource)
            identifiers.append(resource.findtext("identifier"))
        token = root.findtext("oai:ListRecords/oai:resumptionToken", namespaces=NS)
        if not token:
            break
        root = get(f"{base}?{urllib.parse.urlencode({'verb': 'ListRecords', 'resumptionToken': token})}")
        answers += 1
    assert answers == (len(identifiers) + 1) // 2 and len(identifiers) >= 5
    assert {"ivo://live.example.org", "ivo://live.example.org/tap", "ivo://live.example.org/gaia/source"} <= set(identifiers)
    tomorrow = get(f"{base}?verb=ListIdentifiers&metadataPrefix=oai_dc&from=2999-01-01")
    assert tomorrow.find("oai:error", NS).get("code") == "noRecordsMatch"


@pytest.mark.skipif(not (shutil.which("xvfb-run") and Path("/usr/share/java/starlink-topcat.jar").exists()),
                    reason="TOPCAT and Xvfb come from scripts/services (topcat, xvfb, xauth)")
def test_topcat_loads_a_result_and_resolves_its_datalink_descriptor(linked: LiveTap) -> None:
    query = urllib.parse.urlencode({"REQUEST": "doQuery", "LANG": "ADQL", "RESPONSEFORMAT": "votable",
                                    "QUERY": "SELECT TOP 3 source_id, ra, dec FROM gaia.source ORDER BY source_id"})
    done = subprocess.run(["xvfb-run", "-a", "java", "-Djava.awt.headless=false", "-cp", "/usr/share/java/starlink-topcat.jar",
                           str(HERE / "TopcatDatalink.java"), f"{linked.url}/sync?{query}"],
                          capture_output=True, text=True, timeout=300)
    out = done.stdout
    print(out)  # the figures: rows, suitability, the links URL TOPCAT followed
    assert "rows 3" in out, out + done.stderr
    assert "activator true" in out, out + done.stderr
    assert "suitability SUGGESTED" in out, out + done.stderr  # TOPCAT offers the action by itself
    assert "outcome true Loaded 2 rows" in out and "/datalink/gaia/source/links?ID=" in out, out + done.stderr


def test_taplint_passes_with_datalink_descriptors_in_the_results(linked: LiveTap) -> None:
    """taplint reads results of its own queries on gaia.source, which now carry descriptors and provenance INFOs."""
    run = subprocess.run(["stilts", "taplint", f"tapurl={linked.url}", "maxrepeat=3", "stages=QGE QPO QAS"],
                         capture_output=True, text=True, timeout=600, check=False)
    totals = re.search(r"Totals: Errors: (\d+); Warnings: (\d+)", run.stdout)
    assert totals, run.stdout[-3000:] + run.stderr[-2000:]
    problems = "\n".join(line for line in run.stdout.splitlines() if line[:2] in ("E-", "W-"))
    assert (int(totals[1]), int(totals[2])) == (0, 0), problems
