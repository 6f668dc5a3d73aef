"""Spark Connect in notebook sessions, as an operator's explicit choice per compute domain.

Against the real Docker engine, the daiquiri/jupyter image and the running Spark Connect server: a
session of a domain that offers Spark Connect runs Spark SQL and reads a public catalogue's Parquet
with the preconfigured client (SPARK_REMOTE, ``Portal().spark()``), through a gateway socket that
leads to Spark alone; a session of a domain that does not offer it has no SPARK_REMOTE, no socket to
Spark and no route to it. Without Docker: the address a session gets, what a domain refuses, and
what the admin says the option means."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import docker
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import websockets
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client

from apps.compute import gateway, sessions
from apps.compute.actions import do_register_domain
from apps.compute.models import ComputeDomain, ComputeImage, ComputeSession
from apps.metadata.catalog import parquet_path
from tests.compute.test_sessions import (  # noqa: F401  (fixtures)
    Portal,
    asgi_portal,
    cookies_of,
    lab_domain,
    lab_image,
    lab_roots,
    storage_of,
    wait_running,
)
from tests.conftest import make_user

pytestmark = [pytest.mark.django_db(transaction=True)]
SPARK_REMOTE = os.environ.get("SPARK_REMOTE") or "sc://127.0.0.1:15002"

# Notebook cells, run in a kernel of the session.
SPARK_CELL = """
from pyspark.sql import SparkSession
from daiquiri_client import Portal
spark = SparkSession.builder.getOrCreate()
print(spark.sql("SELECT 1 AS one").collect()[0].one)
stars = Portal().spark().read.parquet({path!r})
print(stars.where("mag < 15").count())
print(type(stars.groupBy().max("mag").toPandas()).__name__)
import subprocess, sys  # and from a terminal's one-liner
one_liner = "from pyspark.sql import SparkSession; print(SparkSession.builder.getOrCreate().sql('SELECT 41 + 1 AS x').first().x)"
print(subprocess.run([sys.executable, "-c", one_liner], capture_output=True, text=True).stdout.strip())
"""
ROUND_TRIPS = """
import statistics, time
def median_round_trip_ms(spark, n=15):
    spark.sql("SELECT 1").collect()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        spark.sql("SELECT 1").collect()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
"""
IN_SESSION = "from pyspark.sql import SparkSession\nprint(median_round_trip_ms(SparkSession.builder.getOrCreate()))"
# The same from a plain Python process of the session (a script, not the kernel): same forwarder, no kernel.
IN_SESSION_SCRIPT = (
    "import pathlib, subprocess, sys\n"
    f"pathlib.Path('/tmp/round_trips.py').write_text({ROUND_TRIPS + IN_SESSION!r})\n"
    "print(subprocess.run([sys.executable, '/tmp/round_trips.py'], capture_output=True, text=True, check=True).stdout.strip())"
)
NO_SPARK_CELL = """
import os, socket
from daiquiri_client import Portal
from daiquiri_client.spark import SparkUnavailable
print(os.environ.get("SPARK_REMOTE", "no SPARK_REMOTE"), os.path.exists("/run/daiquiri-spark"))
try:
    Portal().spark()
except SparkUnavailable as exc:
    print("unavailable:", exc)
for port in (15002, {port}):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        print("connected", port)
    except OSError as exc:
        print("refused", port, type(exc).__name__)
from pyspark.sql import SparkSession
spark = SparkSession.builder.remote("sc://127.0.0.1:{port}").getOrCreate()
spark.client.set_retry_policies([])
try:
    spark.sql("SELECT 1").collect()
    print("spark answered")
except Exception as exc:
    print("spark unreachable", type(exc).__name__)
"""


def _public_catalogue(settings: Any, tmp_path: Path) -> tuple[str, int]:
    """A public catalogue stored as Parquet where DuckDB/Spark tables live; its path and its bright rows."""
    settings.SCIENCE_DIR = tmp_path / "science"
    path = parquet_path("survey", "stars")
    path.parent.mkdir(parents=True)
    mags = [10.0 + i * 0.01 for i in range(1000)]
    pq.write_table(pa.table({"source_id": list(range(1000)), "mag": mags}), path)
    return str(path), sum(m < 15 for m in mags)


@pytest.fixture
def spark_domain(transactional_db: None) -> ComputeDomain:
    return do_register_domain("lab-spark", public=True, cpus=1.0, memory_mb=1536, max_jobs=2,
                              spark_connect=True, spark_remote=SPARK_REMOTE)


def _start(user: User, image: ComputeImage, domain: ComputeDomain) -> ComputeSession:
    return wait_running(sessions.do_start_session(user, image, domain, [{"volume": storage_of(user).pk, "write": True}]))


def _attrs(docker_host: str, session: ComputeSession) -> Any:
    client = docker.DockerClient(base_url=docker_host)
    try:
        return client.containers.get(session.container_id).attrs
    finally:
        client.close()


def _run_in_notebook(portal: Portal, session: ComputeSession, code: str) -> list[str]:
    """Run ``code`` in a new kernel of the session, through the portal's proxy as JupyterLab does
    (HTTP to start the kernel, its channels WebSocket to execute); the lines it printed."""
    cookies = cookies_of(session.owner)
    with httpx.Client(cookies=cookies) as client:
        client.get(f"{portal.url}{session.base_url}lab")
        xsrf = client.cookies.get("_xsrf") or ""
        kernel = client.post(f"{portal.url}{session.base_url}api/kernels", json={}, headers={"X-XSRFToken": xsrf}).json()
    url = f"ws://{portal.host}{session.base_url}api/kernels/{kernel['id']}/channels"
    header = "; ".join(f"{k}={v}" for k, v in cookies.items())

    async def talk() -> list[str]:
        async with websockets.connect(url, additional_headers={"Cookie": header}, origin=portal.url, open_timeout=20) as ws:  # type: ignore[arg-type]
            await ws.send(json.dumps({
                "header": {"msg_id": "cell", "username": "", "session": "s1", "msg_type": "execute_request", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell",
                "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False},
            }))
            out = []
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if reply.get("parent_header", {}).get("msg_id") != "cell":
                    continue
                kind, content = reply.get("msg_type"), reply.get("content", {})
                if kind == "stream" and content.get("name") == "stdout":
                    out.append(content["text"])
                elif kind == "error":
                    raise AssertionError("\n".join(content.get("traceback", [])))
                elif kind == "status" and content.get("execution_state") == "idle":
                    return "".join(out).strip().splitlines()

    return asyncio.run(talk())


@pytest.fixture
def spark_gateways(docker_host: str) -> Any:
    yield
    client = docker.DockerClient(base_url=docker_host)
    route = gateway.spark_route(SPARK_REMOTE)
    for container in client.containers.list(all=True, filters={"label": f"org.daiquiri.gateway={route.label}"}):
        if container.name == f"daiquiri-gateway-{gateway._key(docker_host, route)}":  # this test run's, not another portal's
            container.remove(force=True)
    client.close()


def test_a_session_of_a_domain_offering_spark_runs_spark_sql_and_reads_a_public_catalogue(
    asgi_portal: Portal, lab_roots: None, lab_image: ComputeImage, spark_domain: ComputeDomain,  # noqa: F811
    spark_gateways: None, docker_host: str, settings: Any, tmp_path: Path,
) -> None:
    path, bright = _public_catalogue(settings, tmp_path)
    session = _start(make_user("ada"), lab_image, spark_domain)
    printed = _run_in_notebook(asgi_portal, session, SPARK_CELL.format(path=path))
    assert printed == ["1", str(bright), "DataFrame", "42"]
    attrs = _attrs(docker_host, session)
    env = dict(e.split("=", 1) for e in attrs["Config"]["Env"])
    assert env["SPARK_REMOTE"] == "sc://127.0.0.1:15002/;user_id=ada"
    host_config = attrs["HostConfig"]
    assert host_config["NetworkMode"] == "none"  # Spark is reached through the socket, not a network
    spark_mount = next(m for m in attrs["Mounts"] if m["Destination"] == gateway.SPARK_SOCKET_DIR)
    assert spark_mount["RW"] is False
    _print_round_trips(asgi_portal, session)


def _print_round_trips(portal: Portal, session: ComputeSession) -> None:
    """A figure for the report, not a test: Spark SQL round trips from a notebook (forwarder, socket,
    gateway) beside the same from the host's own Spark Connect client, in the same run."""
    ours = float(_run_in_notebook(portal, session, ROUND_TRIPS + IN_SESSION)[-1])
    script = float(_run_in_notebook(portal, session, IN_SESSION_SCRIPT)[-1])
    from pyspark.sql import SparkSession

    namespace: dict[str, Any] = {}
    exec(ROUND_TRIPS, namespace)  # noqa: S102  (the same measuring code on both sides)
    spark = SparkSession.builder.remote(SPARK_REMOTE).create()
    try:
        raw = float(namespace["median_round_trip_ms"](spark))
    finally:
        spark.stop()
    print(f"\nSpark SQL round trip, median: {ours:.1f} ms from a notebook kernel, {script:.1f} ms from a script in the session, "
          f"{raw:.1f} ms from the host ({ours / raw:.2f}x, {script / raw:.2f}x)")


def test_a_session_of_a_domain_without_spark_has_no_spark_remote_and_no_route_to_spark(
    asgi_portal: Portal, lab_roots: None, lab_image: ComputeImage, lab_domain: ComputeDomain,  # noqa: F811
    spark_gateways: None, docker_host: str,
) -> None:
    client = docker.DockerClient(base_url=docker_host)
    try:  # another domain on the same engine offers Spark: its gateway runs, and stays out of this session
        spark_folder = gateway.ensure_gateway(client, docker_host, gateway.spark_route(SPARK_REMOTE))
    finally:
        client.close()
    spark_port = gateway.spark_route(SPARK_REMOTE).port
    session = _start(make_user("bob"), lab_image, lab_domain)
    printed = _run_in_notebook(asgi_portal, session, NO_SPARK_CELL.format(port=spark_port))
    attrs = _attrs(docker_host, session)
    assert printed[0] == "no SPARK_REMOTE False"
    assert printed[1].startswith("unavailable: This session's compute domain does not offer Spark Connect.")
    assert printed[2:4] == ["refused 15002 ConnectionRefusedError", f"refused {spark_port} ConnectionRefusedError"]
    assert printed[4].startswith("spark unreachable")
    env = dict(e.split("=", 1) for e in attrs["Config"]["Env"])
    assert not {"SPARK_REMOTE", "DAIQUIRI_SPARK_SOCKET"} & set(env)
    assert str(spark_folder) not in {m["Source"] for m in attrs["Mounts"]}
    assert (spark_folder / gateway.SPARK_SOCKET_NAME).is_socket()  # the gateway was there to be reached, had it been mounted


def test_a_sessions_spark_address_keeps_the_domains_parameters_at_its_local_forwarder() -> None:
    assert sessions.session_spark_remote("sc://spark.example:15010/;token=abc", "ada") == "sc://127.0.0.1:15002/;token=abc;user_id=ada"
    assert sessions.session_spark_remote("sc://spark.example", "ada@x.org") == "sc://127.0.0.1:15002/;user_id=ada@x.org"
    assert sessions.session_spark_remote("sc://h:1/;user_id=ops", "ada") == "sc://127.0.0.1:15002/;user_id=ops"
    assert gateway.spark_route("sc://spark.example/;token=abc").port == 15002
    assert gateway.spark_route("sc://spark.example:15010").label == "spark:spark.example:15010"


def test_a_domain_offers_spark_only_with_a_plain_spark_connect_address(settings: Any, transactional_db: None) -> None:
    settings.SPARK_REMOTE = "local"  # the portal's own Spark runs in-process: nothing a session could reach
    for remote in ("", "http://spark.example:15002", "sc://:15002", "sc://spark.example:15002/;use_ssl=true"):
        with pytest.raises(ValidationError):
            do_register_domain(f"d{len(remote)}", spark_connect=True, spark_remote=remote)
    assert not ComputeDomain.objects.exists()
    off = do_register_domain("off", spark_remote="http://ignored")
    assert off.offered_spark_remote() == ""
    settings.SPARK_REMOTE = "sc://127.0.0.1:15002"
    assert do_register_domain("portal-spark", spark_connect=True).offered_spark_remote() == "sc://127.0.0.1:15002"


def test_the_admin_says_what_offering_spark_connect_means(settings: Any, transactional_db: None) -> None:
    settings.SPARK_REMOTE = "sc://127.0.0.1:15002"
    domain = do_register_domain("lab")
    admin = Client()
    admin.force_login(make_user("root", is_staff=True, is_superuser=True))
    url = f"/admin/compute/computedomain/{domain.pk}/change/"
    page = admin.get(url).content.decode()
    assert "every user of this domain can read whatever that Spark server can read" in page
    assert "never for the Spark engine that holds MyDB" in page
    form = {f: getattr(domain, f) for f in ("name", "description", "docker_host", "cpus", "memory_mb", "max_runtime_s", "max_jobs",
                                           "max_sessions_per_user", "session_idle_s", "network", "spark_remote")}
    form.update(enabled="on", spark_connect="on")
    saved = admin.post(url, form, follow=True).content.decode()
    assert "reach the portal&#x27;s own Spark (sc://127.0.0.1:15002)" in saved
    assert ComputeDomain.objects.get(pk=domain.pk).spark_connect


def test_the_session_environment_has_spark_only_for_an_offering_domain(
    settings: Any, lab_image: ComputeImage, lab_domain: ComputeDomain, spark_domain: ComputeDomain,  # noqa: F811
) -> None:
    owner = make_user("ada")
    for domain, folder in ((lab_domain, None), (spark_domain, Path("/srv/spark-gateway"))):
        session = ComputeSession.objects.create(owner=owner, image=lab_image, domain=domain)
        kwargs = sessions._container_kwargs(session, [], Path("/srv/portal-gateway"), "dses_x", folder)
        targets = {m["Target"] for m in kwargs["mounts"]}
        if folder is None:
            assert "SPARK_REMOTE" not in kwargs["environment"] and gateway.SPARK_SOCKET_DIR not in targets
        else:
            assert kwargs["environment"]["DAIQUIRI_SPARK_SOCKET"] == gateway.SPARK_CONTAINER_SOCKET
            assert gateway.SPARK_SOCKET_DIR in targets and kwargs["network_mode"] == "none"
