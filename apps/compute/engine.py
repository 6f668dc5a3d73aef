"""Running one job's container in a Docker engine through the Docker SDK.

The container gets only what the job may have: the mounts checked at
submission (and again here), no network (the portal is reached through the
gateway's Unix socket, see gateway.py) unless the domain has one and the job
asked, a non-root user, the domain's memory/CPU limits, a read-only root
file system with a private /tmp, no capabilities, no privilege escalation.
The engine caps each container's log (json-file, two files of
COMPUTE_LOG_BYTES): a job printing gigabytes leaves a few megabytes on disk,
and only the tail is read back. The time limit is enforced by waiting at most
the domain's maximum run time.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import docker
import requests
from django.conf import settings
from docker.errors import APIError, DockerException, NotFound
from docker.types import Mount

from apps.files.models import Volume

from . import gateway
from .models import ComputeDomain, ComputeJob

PIDS_LIMIT = 512
CONTAINER_TMP = "/tmp"  # noqa: S108  (the container's own private tmpfs)


# Network modes that reach the host: its own interfaces, or the default bridge, whose gateway is the host
# (services bound to all addresses answer there). Trusted domains only; other networks must be --internal.
HOST_NETWORKS = ("host", "bridge", "default")


def docker_host(domain: ComputeDomain) -> str:
    return domain.docker_host or settings.DOCKER_HOST


def client_for(domain: ComputeDomain, timeout: int = 60) -> docker.DockerClient:
    return docker.DockerClient(base_url=docker_host(domain), timeout=timeout, version="auto")


def reaches_host(network: str) -> bool:
    return network in HOST_NETWORKS or network.startswith("container:")


def network_mode(job: ComputeJob) -> str:
    """The job's network: none, unless it asked and its domain has one (a host network only in a trusted domain)."""
    domain = job.domain
    if not (job.network and domain.network) or (reaches_host(domain.network) and not domain.trusted):
        return "none"
    return domain.network


def _check_network(client: docker.DockerClient, job: ComputeJob, mode: str) -> None:
    """An untrusted domain's named network must be internal (no route out, so none to the host either)."""
    if mode == "none" or job.domain.trusted:
        return
    try:
        internal = bool(client.networks.get(mode).attrs.get("Internal"))
    except NotFound:
        internal = False
    if not internal:
        raise RuntimeError(f"The network {mode} of {job.domain.name} is not internal; only a trusted domain may use it.")


def log_config() -> dict[str, Any]:
    """The engine keeps at most two files of COMPUTE_LOG_BYTES each per container."""
    return {"Type": "json-file", "Config": {"max-size": str(settings.COMPUTE_LOG_BYTES), "max-file": "2"}}


def mount_target(volume: Volume) -> str:
    """Where a volume appears in the container: /data/<name> or /volumes/<root>/<owner>/<name>."""
    if volume.owner is None:
        return f"/data/{volume.name}"
    return f"/volumes/{volume.root.name}/{volume.owner.username}/{volume.name}"


@dataclass(frozen=True)
class MountSpec:
    volume: Volume
    write: bool

    def docker(self) -> Mount:
        return Mount(target=mount_target(self.volume), source=str(self.volume.directory), type="bind", read_only=not self.write)


def container_command(job: ComputeJob) -> list[str]:
    if job.kind == ComputeJob.KIND_NOTEBOOK:
        stem = job.notebook[:-6] if job.notebook.endswith(".ipynb") else job.notebook
        output = f"{stem.rsplit('/', 1)[-1]}.output.ipynb"
        # --output is relative to the notebook's folder; a failing cell fails the job.
        # "./" keeps a name such as "--x.ipynb" from being read as an option (the path is relative, cleaned at submission).
        nbconvert = ["jupyter", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=-1",
                     f"--output=./{output}", f"./{job.notebook}"]
        return ["/bin/sh", "-c", shlex.join(nbconvert)]
    return ["/bin/sh", "-c", job.command]


def start_container(job: ComputeJob, mounts: list[MountSpec], workdir: str, environment: dict[str, str]) -> str:
    domain = job.domain
    client = client_for(domain)
    uid, gid = settings.FILES_OWNER_UID, settings.FILES_OWNER_GID
    mode = network_mode(job)
    try:
        socket_folder = gateway.ensure_gateway(client, docker_host(domain))
        _check_network(client, job, mode)
    except Exception:
        client.close()
        raise
    portal = Mount(target=gateway.SOCKET_DIR, source=str(socket_folder), type="bind", read_only=True)
    kwargs: dict[str, Any] = {
        "image": job.image.docker_image,
        "command": container_command(job),
        "name": job.container_name,
        "detach": True,
        "user": f"{uid}:{gid}",
        "working_dir": workdir,
        "environment": {"HOME": CONTAINER_TMP, "DAIQUIRI_SOCKET": gateway.CONTAINER_SOCKET,
                        "DAIQUIRI_SOCKET_TLS": "1" if gateway.upstream_speaks_tls() else "", **environment},
        "network_mode": mode,
        "log_config": log_config(),
        "mem_limit": f"{domain.memory_mb}m",
        "memswap_limit": f"{domain.memory_mb}m",
        "nano_cpus": int(domain.cpus * 1e9),
        "pids_limit": PIDS_LIMIT,
        "mounts": [portal, *(m.docker() for m in mounts)],
        "read_only": True,
        "tmpfs": {CONTAINER_TMP: "rw,exec,nosuid,nodev,size=512m,mode=1777"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "labels": {"org.daiquiri.job": str(job.id), "org.daiquiri.owner": str(job.owner_id)},
    }
    try:
        container = client.containers.run(**kwargs)
    finally:
        client.close()
    return str(container.id)


def _tail(chunks: Iterable[bytes]) -> str:
    """The last COMPUTE_LOG_BYTES of a log stream, read chunk by chunk (never the whole log at once)."""
    limit = settings.COMPUTE_LOG_BYTES
    kept = bytearray()
    cut = False
    for chunk in chunks:
        kept += chunk
        if len(kept) > 2 * limit:
            del kept[: len(kept) - limit]
            cut = True
    if len(kept) > limit:
        del kept[: len(kept) - limit]
        cut = True
    text = bytes(kept).decode("utf-8", "replace")
    return "[… earlier output cut]\n" + text if cut else text


def wait(job: ComputeJob, timeout_s: float) -> int | None:
    """The container's exit code once it ends within ``timeout_s``; None while it still runs."""
    client = client_for(job.domain, timeout=max(1, int(timeout_s) + 5))
    try:
        container = client.containers.get(job.container_id or job.container_name)
        try:
            return int(container.wait(timeout=max(0.1, timeout_s)).get("StatusCode", -1))
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return None
    finally:
        client.close()


def collect(job: ComputeJob) -> tuple[str, str]:
    """stdout and stderr (their tails) of an ended container, which is then removed."""
    client = client_for(job.domain)
    try:
        container = client.containers.get(job.container_id or job.container_name)
        stdout = _tail(container.logs(stdout=True, stderr=False, stream=True))
        stderr = _tail(container.logs(stdout=False, stderr=True, stream=True))
        container.remove(force=True)
        return stdout, stderr
    finally:
        client.close()


def kill(job: ComputeJob) -> bool:
    """Stop the job's container at once; False if there is none (any more)."""
    client = client_for(job.domain)
    try:
        container = client.containers.get(job.container_id or job.container_name)
        container.kill()
        return True
    except (NotFound, APIError):
        return False
    finally:
        client.close()


def container_state(job: ComputeJob) -> str | None:
    """The container's status ("running", "exited", …) or None when it is gone."""
    client = client_for(job.domain)
    try:
        return str(client.containers.get(job.container_id or job.container_name).status)
    except NotFound:
        return None
    finally:
        client.close()


def engine_answers(domain: ComputeDomain) -> bool:
    try:
        client = client_for(domain, timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except DockerException:
        return False
