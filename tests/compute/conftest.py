"""Compute fixtures: the real Docker engine (started by scripts/services.d/30-docker,
which also builds the images locally), a domain, the busybox and Python images."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from apps.access.actions import builtin_group, do_grant
from apps.access.models import Group
from apps.compute import gateway
from apps.compute.actions import JobSpec, do_create_job, do_register_domain, do_register_image
from apps.compute.models import ComputeDomain, ComputeImage, ComputeJob
from apps.files.actions import do_sync_roots
from apps.files.models import RootVolume
from tests.files.conftest import configure_roots, release_roots

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def docker_host() -> str:
    """Start the engine and build the images (idempotent; the first run on a machine takes minutes)."""
    root = os.environ.get("DAIQUIRI_DOCKER_ROOT", "/var/lib/daiquiri-docker")  # the script's own engine, whatever DOCKER_HOST says
    subprocess.run([str(ROOT / "scripts/services.d/30-docker")], check=True, timeout=1800, stdout=subprocess.DEVNULL)
    return f"unix://{root}/docker.sock"


@pytest.fixture
def engine(settings: Any, docker_host: str) -> str:
    settings.DOCKER_HOST = docker_host
    return docker_host


@pytest.fixture
def portal(settings: Any, live_server: Any, engine: str) -> Any:
    """Jobs reach this test's live server through its gateway; the gateway is removed afterwards."""
    settings.COMPUTE_PORTAL_URL = live_server.url.replace("localhost", "127.0.0.1")  # the gateway then forwards from 127.0.0.2
    yield live_server
    client = docker.DockerClient(base_url=engine)
    host, port = gateway.upstream()
    for container in client.containers.list(all=True, filters={"label": f"org.daiquiri.gateway={host}:{port}"}):
        container.remove(force=True)
    client.close()


@pytest.fixture
def roots(settings: Any, tmp_path: Path, db: None) -> Iterator[dict[str, RootVolume]]:
    configure_roots(settings, tmp_path / "files", quota=10_000_000, filesystems=True)
    yield {r.name: r for r in do_sync_roots()}
    release_roots(tmp_path / "files")


@pytest.fixture
def domain(engine: str, db: None) -> ComputeDomain:
    return do_register_domain("local", public=True, cpus=0.5, memory_mb=256, max_runtime_s=120, max_jobs=2)


def _public_image(name: str, docker_image: str, notebooks: bool) -> ComputeImage:
    image = do_register_image(name, docker_image, notebooks=notebooks)
    do_grant(None, image.resource, "run", group=builtin_group(Group.KIND_PUBLIC))
    return image


@pytest.fixture
def busybox(db: None) -> ComputeImage:
    return _public_image("busybox", "daiquiri/busybox:latest", notebooks=False)


@pytest.fixture
def python_image(db: None) -> ComputeImage:
    return _public_image("python", "daiquiri/python:latest", notebooks=True)


@pytest.fixture
def run(django_capture_on_commit_callbacks: Any) -> Callable[..., ComputeJob]:
    """Submit a job and run it to its end (eager Celery, on-commit callbacks executed)."""

    def submit(user: Any, **spec: Any) -> ComputeJob:
        with django_capture_on_commit_callbacks(execute=True):
            job = do_create_job(user, JobSpec(**spec))
        job.refresh_from_db()
        return job

    return submit


def notebook(*cells: str) -> bytes:
    return json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [], "source": s}
                  for i, s in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }).encode()
