"""The real VO clients, logged in, against a running portal: STILTS (tapquery with Basic credentials after the
/tap/auth challenge), pyvo's AuthSession, and astroquery's TapPlus (the Gaia archive's client)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import time
from typing import Any

import pytest
import pyvo
import requests
from pyvo.auth import AuthSession

from tests.tap.conftest import LiveTap

from .conftest import LiveTls

pytestmark = pytest.mark.django_db

QUERY = "SELECT TOP 5 source_id, ra, dec FROM gaia.source ORDER BY source_id"


@pytest.fixture(scope="module")
def mydb_table(live_tap: LiveTap) -> str:
    """A table in the user's MyDB, saved by a TAP async job with TABLE_NAME (how a VO client imports one)."""
    created = requests.post(f"{live_tap.url}/auth/async", data={"LANG": "ADQL", "QUERY": QUERY, "TABLE_NAME": "five_stars",
                                                                 "PHASE": "RUN"}, auth=live_tap.auth, allow_redirects=False,
                            timeout=30)
    assert created.status_code == 303, created.text
    job = created.headers["Location"]
    assert job.startswith(f"{live_tap.url}/auth/async/")
    for _ in range(100):
        phase = requests.get(f"{job}/phase", auth=live_tap.auth, timeout=10).text
        if phase in ("COMPLETED", "ERROR"):
            break
        time.sleep(0.2)
    assert phase == "COMPLETED", requests.get(f"{job}/error", auth=live_tap.auth, timeout=10).text
    return "mydb.five_stars"


def _stilts(live_tap: LiveTap, url: str, adql: str, *, login: bool) -> subprocess.CompletedProcess[str]:
    props = [f"-Dstar.basicauth.user={live_tap.auth[0]}", f"-Dstar.basicauth.password={live_tap.auth[1]}"] if login else []
    return subprocess.run(["stilts", *props, "tapquery", f"tapurl={url}", f"adql={adql}", "sync=true", "ofmt=csv", "out=-"],
                          capture_output=True, text=True, timeout=180, check=False)


def test_stilts_logs_in_at_the_challenge_and_reads_a_mydb_table(live_tap: LiveTap, mydb_table: str) -> None:
    run = _stilts(live_tap, f"{live_tap.url}/auth", f"SELECT source_id, ra FROM {mydb_table}", login=True)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert lines[0] == "source_id,ra" and len(lines) == 6
    anonymous = _stilts(live_tap, live_tap.url, f"SELECT source_id FROM {mydb_table}", login=False)
    assert anonymous.returncode != 0  # the anonymous service has no MyDB


def test_pyvo_auth_session_lists_and_queries_the_users_tables(live_tap: LiveTap, mydb_table: str) -> None:
    session = AuthSession()
    session.credentials.set_password(*live_tap.auth)
    service = pyvo.dal.TAPService(f"{live_tap.url}/auth", session=session)
    # The names only: pyvo 1.9 fetches each table's columns (tables/{name}) without the session's credentials.
    assert mydb_table in list(service.tables.keys())
    assert len(service.run_sync(f"SELECT * FROM {mydb_table}").to_table()) == 5
    assert len(service.run_async(f"SELECT ra FROM {mydb_table} WHERE ra > -1").to_table()) == 5
    names = [r["table_name"] for r in service.run_sync("SELECT table_name FROM TAP_SCHEMA.tables")]
    assert mydb_table in names
    anonymous = pyvo.dal.TAPService(live_tap.url)
    assert mydb_table not in list(anonymous.tables.keys())


@pytest.mark.parametrize("output_format", ["votable", "votable_plain", "votable_gzip", "csv", "ecsv", "json", "fits"])
def test_astroquery_tapplus_runs_sync_and_async_in_each_gaia_format(live_tap: LiveTap, output_format: str) -> None:
    from astroquery.utils.tap.core import TapPlus

    tap = TapPlus(url=live_tap.url)
    sync = tap.launch_job(QUERY, output_format=output_format).get_results()
    assert len(sync) == 5 and "source_id" in sync.colnames
    done = tap.launch_job_async(QUERY, output_format=output_format).get_results()
    assert len(done) == 5


def test_astroquery_tapplus_loads_tables_with_their_columns(live_tap: LiveTap) -> None:
    from astroquery.utils.tap.core import TapPlus

    tap = TapPlus(url=live_tap.url)
    tables = {t.get_qualified_name(): t for t in tap.load_tables()}
    assert "gaia.source" in tables
    one = tap.load_table("gaia.source")
    assert "ra" in [c.name for c in one.columns]


def _gaia(live_tap: LiveTap, tls_port: int | None = None) -> Any:
    """astroquery's Gaia client pointed at the portal: its TAP+ connection at /tap, the demo table as its main table
    (and, after a login, at the portal's TLS port)."""
    from astroquery.gaia import GaiaClass
    from astroquery.utils.tap.conn.tapconn import TapConn
    from astroquery.utils.tap.core import TapPlus

    host, port = live_tap.url.split("//")[1].split("/")[0].split(":")
    def conn() -> TapConn:
        return TapConn(False, host, server_context="tap", tap_context="", port=int(port), sslport=tls_port or int(port))

    gaia = GaiaClass(tap_plus_conn_handler=conn(), datalink_handler=TapPlus(connhandler=conn()), show_server_messages=False)
    gaia.MAIN_GAIA_TABLE = "gaia.source"
    gaia.ROW_LIMIT = 50
    return gaia


def test_astroquery_gaia_runs_jobs_cone_searches_and_object_queries_with_their_defaults(live_tap: LiveTap) -> None:
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    gaia = _gaia(live_tap)
    first = gaia.launch_job("SELECT TOP 1 source_id, ra, dec FROM gaia.source ORDER BY source_id").get_results()
    assert len(first) == 1
    centre = SkyCoord(ra=float(first["ra"][0]), dec=float(first["dec"][0]), unit=(u.deg, u.deg), frame="icrs")
    assert len(gaia.launch_job_async(QUERY).get_results()) == 5
    cone = gaia.cone_search_async(centre, radius=u.Quantity(1.0, u.deg)).get_results()
    assert first["source_id"][0] in list(cone["source_id"]) and cone["dist"][0] < 1e-4  # nearest first: itself
    box = gaia.query_object_async(centre, width=u.Quantity(2, u.deg), height=u.Quantity(2, u.deg))
    assert first["source_id"][0] in list(box["source_id"]) and list(box["dist"]) == sorted(box["dist"])


def test_astroquery_gaia_logs_in_reads_the_users_mydb_table_and_logs_out(live_tap: LiveTap, live_tls: LiveTls,
                                                                        mydb_table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(live_tls.cert))  # trust the test server's certificate
    gaia = _gaia(live_tap, live_tls.port)
    gaia.login(user=live_tap.user.username, password=f"{live_tap.user.username}-password")
    assert mydb_table in [t.get_qualified_name() for t in gaia.load_tables(only_names=True)]
    assert len(gaia.launch_job(f"SELECT source_id, ra FROM {mydb_table}").get_results()) == 5
    assert len(gaia.launch_job_async(f"SELECT source_id FROM {mydb_table}").get_results()) == 5
    gaia.logout()
    with pytest.raises(Exception, match=r"five_stars|not found|Error"):  # anonymous again: no MyDB
        gaia.launch_job_async(f"SELECT source_id FROM {mydb_table}").get_results()
    gaia.login(user=live_tap.user.username, password="wrong")  # Gaia logs the refusal and stays anonymous
    with pytest.raises(Exception, match=r"five_stars|not found|Error"):
        gaia.launch_job_async(f"SELECT source_id FROM {mydb_table}").get_results()


TOPCAT_JAR = pathlib.Path("/usr/share/java/starlink-topcat.jar")


@pytest.mark.skipif(not (shutil.which("xvfb-run") and TOPCAT_JAR.exists()),
                    reason="TOPCAT and Xvfb come from scripts/services (topcat, xvfb, xauth)")
def test_topcats_tap_table_browser_lists_the_users_tables_after_the_challenge(live_tap: LiveTap, mydb_table: str,
                                                                             tmp_path: pathlib.Path) -> None:
    def browse(url: str, *extra: str, login: bool = True) -> subprocess.CompletedProcess[str]:
        props = [f"-Dstar.basicauth.user={live_tap.auth[0]}", f"-Dstar.basicauth.password={live_tap.auth[1]}"] if login else []
        return subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1024x768x24", "java", "-Djava.awt.headless=false", *props,
                               "-cp", str(TOPCAT_JAR), str(pathlib.Path(__file__).parent / "TopcatTapTables.java"), url, *extra],
                              capture_output=True, text=True, timeout=300, check=False)

    shot = tmp_path / "topcat-tap.png"
    logged_in = browse(f"{live_tap.url}/auth", str(shot))
    tables = [line.split()[1] for line in logged_in.stdout.splitlines() if line.startswith("table ")]
    assert mydb_table in tables and "gaia.source" in tables, logged_in.stdout + logged_in.stderr[-3000:]
    assert shot.stat().st_size > 10_000  # the browser panel, drawn (looked at by hand: schemas and tables listed)
    anonymous = browse(live_tap.url, login=False)
    assert "table gaia.source" in anonymous.stdout and mydb_table not in anonymous.stdout, anonymous.stderr[-3000:]


def test_taplint_passes_logged_in_at_the_auth_url_with_the_users_tables(live_tap: LiveTap, mydb_table: str) -> None:
    from tests.tap.test_live import ALL_STAGES, TOTALS

    login = [f"-Dstar.basicauth.user={live_tap.auth[0]}", f"-Dstar.basicauth.password={live_tap.auth[1]}"]
    run = subprocess.run(["stilts", *login, "taplint", f"tapurl={live_tap.url}/auth", "maxrepeat=3",
                          f"stages={' '.join(s for s in ALL_STAGES if s != 'LOC')}"],  # LOC: see test_live.py
                         capture_output=True, text=True, timeout=600, check=False)
    totals = TOTALS.search(run.stdout)
    assert totals, run.stdout[-3000:] + run.stderr[-2000:]
    problems = "\n".join(line for line in run.stdout.splitlines() if line[:2] in ("E-", "W-", "F-"))
    assert (int(totals[1]), int(totals[2]), int(totals[5])) == (0, 0, 0), problems
    assert all(f"Section {s}" in run.stdout for s in ALL_STAGES if s != "LOC")
    assert f"Query GET URL: {live_tap.url}/auth/sync?" in run.stdout  # it stayed on the secured interface
    assert "/tap/sync?" not in run.stdout.replace("/tap/auth/sync?", "")


def test_astroquery_tapplus_uploads_a_votable_and_joins_it_sync_and_async(live_tap: LiveTap, tmp_path: pathlib.Path) -> None:
    from astropy.table import Table
    from astroquery.utils.tap.core import TapPlus

    first = requests.get(f"{live_tap.url}/sync", params={"LANG": "ADQL", "FORMAT": "csv", "QUERY": QUERY}, timeout=30).text
    ids = [int(line.split(",")[0]) for line in first.strip().splitlines()[1:3]]
    mine = tmp_path / "mine.xml"
    Table({"source_id": ids, "label": ["a", "b"]}).write(mine, format="votable")
    tap = TapPlus(url=live_tap.url)
    join = ("SELECT m.label, s.ra FROM tap_upload.mine AS m JOIN gaia.source AS s ON s.source_id = m.source_id "
            "ORDER BY m.label")
    for launch in (tap.launch_job, tap.launch_job_async):
        result = launch(join, upload_resource=str(mine), upload_table_name="mine").get_results()
        assert list(result["label"]) == ["a", "b"]
