"""The one way out of a job: a gateway container that forwards a Unix socket to the portal's HTTP port.

Jobs never get a network interface (``network_mode=none``). Each Docker
engine runs a gateway per portal address: a small container, trusted and
operator-made, with host networking, that listens on a Unix socket in a host
folder and forwards every connection to ``COMPUTE_PORTAL_UPSTREAM`` (the
portal's own HTTP server). That folder is mounted read-only at /run/daiquiri
in every job, so the client library reaches the portal's API, and a job can
reach nothing else: not PostgreSQL, Redis, MariaDB, the brokers, or any
other port of the host. The engine restarts the gateway (restart policy), so
it outlives worker processes; ``ensure_gateway`` (re)creates it when absent.

Why a socket rather than an internal Docker network with a proxy: without a
network namespace interface there is nothing to scan or misroute, and the
proof is a single fact (the job has only ``lo``).

The same gateway, with another ``Route``, is how a notebook session of a
compute domain that offers Spark Connect (``ComputeDomain.spark_connect``)
reaches that one Spark Connect server: a second gateway forwards its own socket
(``spark.sock``) to the Spark address, and only such sessions get its folder
mounted, at /run/daiquiri-spark (sessions.py). Every other job and session has
no way to Spark at all.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import docker
from django.conf import settings
from docker.errors import APIError, NotFound
from docker.types import Mount

SOCKET_DIR = "/run/daiquiri"  # in the gateway and in every job
SOCKET_NAME = "portal.sock"
CONTAINER_SOCKET = f"{SOCKET_DIR}/{SOCKET_NAME}"
SPARK_SOCKET_DIR = "/run/daiquiri-spark"  # in sessions of domains that offer Spark Connect
SPARK_SOCKET_NAME = "spark.sock"
SPARK_CONTAINER_SOCKET = f"{SPARK_SOCKET_DIR}/{SPARK_SOCKET_NAME}"
SPARK_DEFAULT_PORT = 15002
READY_TIMEOUT_S = 20.0
JOBS_SOURCE = "127.0.0.2"  # with the portal on 127.0.0.1, jobs' requests come from here (not from local clients' address)


class GatewayError(RuntimeError):
    """The gateway could not be started."""


@dataclass(frozen=True)
class Route:
    """Where one gateway forwards its socket: ``label`` names it (the container label), ``source``
    is the local address its connections come from (empty: the system's choice)."""

    host: str
    port: int
    socket_name: str
    label: str
    source: str = ""
    max_connections: int = 64  # served at once; more wait


def portal_route() -> Route:
    """The portal's HTTP port: every job's and session's way out."""
    host, port = upstream()
    return Route(host, port, SOCKET_NAME, f"{host}:{port}", JOBS_SOURCE if host == "127.0.0.1" else "")


def spark_route(address: str) -> Route:
    """A Spark Connect server (sc://host:port/...): the way to Spark of sessions whose domain offers it."""
    parts = urllib.parse.urlsplit(address)
    if parts.scheme != "sc" or not parts.hostname:
        raise GatewayError(f"Not a Spark Connect address: {address!r}.")
    port = parts.port or SPARK_DEFAULT_PORT
    # Each live session's Spark client keeps its connection open: room for many sessions (two
    # descriptors each, under the engine's default limit of 1024 open files).
    return Route(parts.hostname, port, SPARK_SOCKET_NAME, f"spark:{parts.hostname}:{port}", max_connections=400)


def upstream() -> tuple[str, int]:
    """Host and port the gateway forwards to: COMPUTE_PORTAL_UPSTREAM, else the portal URL's."""
    value = settings.COMPUTE_PORTAL_UPSTREAM or settings.COMPUTE_PORTAL_URL
    parts = urllib.parse.urlsplit(value if "//" in value else f"//{value}")
    if not parts.hostname:
        raise GatewayError(f"No host in the portal address {value!r}.")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def upstream_speaks_tls() -> bool:
    """Whether the gateway forwards to a TLS port (the portal URL's own, https): the client then speaks
    TLS over the socket. With COMPUTE_PORTAL_UPSTREAM set, that is the app server's plain HTTP."""
    return not settings.COMPUTE_PORTAL_UPSTREAM and settings.COMPUTE_PORTAL_URL.startswith("https://")


def _key(docker_host: str, route: Route) -> str:
    """One gateway per engine, target, image and socket folder (two portals on one engine keep theirs apart)."""
    text = f"{docker_host}|{route.label}|{settings.COMPUTE_GATEWAY_IMAGE}|{settings.COMPUTE_GATEWAY_DIR}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def socket_folder(docker_host: str, route: Route | None = None) -> Path:
    """The host folder with the gateway's socket, mounted into jobs (by default the portal's gateway)."""
    return Path(settings.COMPUTE_GATEWAY_DIR) / _key(docker_host, route or portal_route())


def _prepare_folder(folder: Path, socket_name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / socket_name).unlink(missing_ok=True)  # a dead gateway's socket must not pass for a live one
    uid, gid = settings.FILES_OWNER_UID, settings.FILES_OWNER_GID
    if os.geteuid() == 0:
        os.chown(folder, uid, gid)
        folder.chmod(0o755)
    else:  # a portal not run as root cannot hand the folder to the job uid
        folder.chmod(0o777)


def _run(client: docker.DockerClient, name: str, folder: Path, route: Route) -> None:
    client.containers.run(
        image=settings.COMPUTE_GATEWAY_IMAGE, name=name, detach=True,
        command=["python3", "-m", "daiquiri_client.gateway", f"{SOCKET_DIR}/{route.socket_name}", route.host, str(route.port),
                 *([route.source] if route.source else [])],
        environment={"DAIQUIRI_GATEWAY_MAX_CONNECTIONS": str(route.max_connections)},
        user=f"{settings.FILES_OWNER_UID}:{settings.FILES_OWNER_GID}",
        network_mode="host",  # the gateway alone may reach its target on the host's loopback
        mounts=[Mount(target=SOCKET_DIR, source=str(folder), type="bind")],
        read_only=True, cap_drop=["ALL"], security_opt=["no-new-privileges"], mem_limit="128m", pids_limit=32,
        restart_policy={"Name": "unless-stopped"}, log_config={"Type": "json-file", "Config": {"max-size": "1m", "max-file": "1"}},
        labels={"org.daiquiri.gateway": route.label},
    )


def ensure_gateway(client: docker.DockerClient, docker_host: str, route: Route | None = None) -> Path:
    """The running gateway of this engine and route (by default the portal's; started when needed);
    returns its socket folder."""
    route = route or portal_route()
    folder = socket_folder(docker_host, route)
    name = f"daiquiri-gateway-{_key(docker_host, route)}"
    for attempt in range(2):
        created = False
        try:
            container = client.containers.get(name)
            current = container.attrs.get("Image") == client.images.get(settings.COMPUTE_GATEWAY_IMAGE).id  # not an older build
            if container.status != "running" or not current or attempt:  # or running without its socket (folder removed)
                container.remove(force=True)
                raise NotFound("replaced")
        except NotFound:
            _prepare_folder(folder, route.socket_name)
            created = True
            try:
                _run(client, name, folder, route)
            except APIError as exc:
                if exc.status_code != 409:  # 409: another worker created it a moment ago
                    raise GatewayError(f"The gateway to {route.label} did not start: {exc}") from exc
        if _socket_appears(folder / route.socket_name, READY_TIMEOUT_S if created else 2.0):  # a running gateway has its socket already
            return folder
    raise GatewayError(f"The gateway to {route.label} did not open its socket.")


def _socket_appears(path: Path, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not path.is_socket():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
