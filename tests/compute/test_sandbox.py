"""What a hostile job can reach: the portal's API through the gateway socket, and nothing else.

From a job, the client library works while PostgreSQL, Redis, MariaDB,
RabbitMQ, NATS, Spark Connect and the portal's own TCP port are unreachable;
host networking is refused unless the operator marks the domain trusted; the
job's token acts only on TAP and the file API, cannot mint tokens, and dies
with the job.
"""

from __future__ import annotations

import base64
import json
import pwd
import socket
import subprocess
from collections.abc import Callable
from typing import Any

import docker
import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from apps.accounts.models import ApiToken
from apps.compute import engine as container_engine
from apps.compute import tokens
from apps.compute.actions import JobSpec, do_create_job, do_register_domain
from apps.compute.models import ComputeDomain, ComputeImage, ComputeJob
from apps.compute.specs import find_domain
from apps.files.actions import do_ensure_default_volumes, do_upload_file
from apps.files.models import RootVolume
from apps.uws import phases

HOST_PORTS = {"postgresql": 5432, "redis": 6379, "mariadb": 3306, "rabbitmq": 5672, "nats": 4222, "spark": 15002}

PROBE = """
import json, socket, sys
from daiquiri_client import Portal
targets = json.loads(sys.argv[1])
reached = {}
for name, (host, port) in targets.items():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
        reached[name] = True
    except OSError:
        reached[name] = False
    finally:
        s.close()
portal = Portal()
names = sorted(v['name'] for v in portal.volumes())
rows = portal.query("SELECT TOP 1 table_name FROM TAP_SCHEMA.tables")
print(json.dumps({"reached": reached, "volumes": names, "tap_rows": len(rows)}))
"""


def _host_addresses() -> set[str]:
    """Every IPv4 address of this machine (services that listen beyond loopback would answer there)."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    return {"127.0.0.1", *(a for a in out if ":" not in a)}


@pytest.mark.django_db(transaction=True)
def test_from_a_job_the_portal_api_works_and_no_other_host_port_answers(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, python_image: ComputeImage,
    run: Callable[..., ComputeJob], portal: Any,
) -> None:
    portal_port = int(portal.url.rsplit(":", 1)[1])
    targets: dict[str, tuple[str, int]] = {}
    for address in _host_addresses():
        for name, port in {**HOST_PORTS, "portal-tcp": portal_port}.items():
            targets[f"{name}@{address}"] = (address, port)
    # The probe is fair: from the test process itself, PostgreSQL and the portal do answer.
    with socket.create_connection(("127.0.0.1", 5432), timeout=2), socket.create_connection(("127.0.0.1", portal_port), timeout=2):
        pass
    persistent = next(v for v in do_ensure_default_volumes(users.owner) if v.name == "persistent")
    do_upload_file(users.owner, persistent, "probe.py", [PROBE.encode()])
    job = run(users.owner, image=python_image, domain=domain, command=f"python3 probe.py '{json.dumps(targets)}'", workdir_volume=persistent)
    assert job.phase == phases.COMPLETED, (job.error, job.stderr[-3000:])
    report = json.loads(job.stdout.strip().splitlines()[-1])
    assert report["tap_rows"] == 1 and "persistent" in report["volumes"]
    assert report["reached"] == dict.fromkeys(targets, False)


def test_host_networking_is_refused_unless_the_domain_is_trusted(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage
) -> None:
    domain.network = "host"
    domain.save()
    with pytest.raises(ValidationError, match="host's network"):
        do_create_job(users.owner, JobSpec(busybox, domain, command="true", network=True))
    job = ComputeJob.objects.create(owner=users.owner, image=busybox, domain=domain, command="true", network=True)
    assert container_engine.network_mode(job) == "none"  # a job stored before the rule, or changed behind its back, still gets none
    domain.trusted = True
    domain.save()
    assert container_engine.network_mode(job) == "host"


@pytest.mark.parametrize("network", ["bridge", "default", "container:daiquiri-gateway"])
def test_other_networks_that_reach_the_host_are_refused_too(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, network: str
) -> None:
    domain.network = network
    domain.save()
    with pytest.raises(ValidationError, match="host's network"):
        do_create_job(users.owner, JobSpec(busybox, domain, command="true", network=True))


def test_a_named_network_must_be_internal_in_an_untrusted_domain(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, engine: str,
    run: Callable[..., ComputeJob],
) -> None:
    client = docker.DockerClient(base_url=engine, version="auto")
    outward = client.networks.create(f"daiquiri-test-out-{domain.pk}", driver="bridge")
    inward = client.networks.create(f"daiquiri-test-in-{domain.pk}", driver="bridge", internal=True)
    try:
        domain.network = outward.name
        domain.save()
        job = run(users.owner, image=busybox, domain=domain, command="true", network=True)
        assert job.phase == phases.ERROR and "not internal" in job.error
        domain.network = inward.name
        domain.save()
        job = run(users.owner, image=busybox, domain=domain, command="ls /sys/class/net", network=True)
        assert job.phase == phases.COMPLETED and "eth0" in job.stdout.split()
    finally:
        outward.remove()
        inward.remove()
        client.close()


def test_a_domain_is_usable_only_with_the_run_privilege(users: Any, roots: dict[str, RootVolume], busybox: ComputeImage, engine: str) -> None:
    private = do_register_domain("private", public=False)
    with pytest.raises(ValidationError, match="No such compute domain"):
        find_domain(users.owner, "private")
    client = Client()
    client.force_login(users.owner)
    assert client.get("/compute/api/domains/").json() == []
    answer = client.post("/compute/api/jobs/", {"image": "busybox", "domain": private.name, "command": "true"}, content_type="application/json")
    assert answer.status_code == 400 and "No such compute domain" in answer.json()["detail"]
    unregistered = ComputeDomain.objects.create(name="bare")  # made behind the actions' back: no resource, no jobs
    with pytest.raises(Exception, match="Nobody may run jobs"):
        do_create_job(users.owner, JobSpec(busybox, unregistered, command="true"))


def _running_job(users: Any, domain: ComputeDomain, busybox: ComputeImage) -> tuple[ComputeJob, str]:
    job = ComputeJob.objects.create(owner=users.owner, image=busybox, domain=domain, command="sleep 60", phase=phases.EXECUTING)
    return job, tokens.new_job_key(job)


def test_a_job_token_reaches_tap_and_files_but_cannot_mint_tokens_or_touch_the_account(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage
) -> None:
    _job, key = _running_job(users, domain, busybox)
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/files/api/volumes/").status_code == 200
    assert api.get("/tap/async").status_code == 200
    assert api.post("/accounts/tokens/new", {"name": "forever"}).status_code == 401
    assert api.get("/accounts/api/me").status_code == 401
    assert api.get("/accounts/profile/").status_code == 401
    assert api.get("/compute/api/jobs/").status_code == 401
    basic = Client(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{users.owner.username}:{key}".encode()).decode())
    assert basic.get("/files/api/volumes/").status_code == 200
    assert basic.post("/accounts/tokens/new", {"name": "forever"}).status_code == 401
    assert not ApiToken.objects.filter(user=users.owner).exists()


def test_a_job_token_dies_with_its_job(users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage) -> None:
    job, key = _running_job(users, domain, busybox)
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/files/api/volumes/").status_code == 200
    ComputeJob.objects.filter(pk=job.pk).update(phase=phases.COMPLETED)
    assert Client(HTTP_AUTHORIZATION=f"Token {key}").get("/files/api/volumes/").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_real_jobs_token_no_longer_works_once_the_job_ended(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, run: Callable[..., ComputeJob]
) -> None:
    job = run(users.owner, image=busybox, domain=domain, command='echo "$DAIQUIRI_TOKEN"')
    assert job.phase == phases.COMPLETED, (job.error, job.stderr)
    key = job.stdout.strip()
    assert key.startswith(tokens.PREFIX) and job.token_hash == ""
    assert Client(HTTP_AUTHORIZATION=f"Token {key}").get("/files/api/volumes/").status_code == 401


def test_a_gateway_that_lost_its_socket_folder_is_replaced(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, run: Callable[..., ComputeJob], engine: str
) -> None:
    import shutil

    from apps.compute import gateway

    assert run(users.owner, image=busybox, domain=domain, command="test -S /run/daiquiri/portal.sock").phase == phases.COMPLETED
    shutil.rmtree(gateway.socket_folder(engine))  # e.g. the var folder was cleaned while the engine ran on
    job = run(users.owner, image=busybox, domain=domain, command="test -S /run/daiquiri/portal.sock")
    assert job.phase == phases.COMPLETED, job.error


def test_volumes_reach_a_job_nosuid_nodev_and_owned_by_the_reserved_uid(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, run: Callable[..., ComputeJob], settings: Any
) -> None:
    persistent = next(v for v in do_ensure_default_volumes(users.owner) if v.name == "persistent")
    job = run(users.owner, image=busybox, domain=domain, workdir_volume=persistent,
              command="cat /proc/mounts; echo x > made.txt; chmod 4755 made.txt")
    assert job.phase == phases.COMPLETED, (job.error, job.stderr)
    [line] = [line for line in job.stdout.splitlines() if " /volumes/" in line]
    assert {"nosuid", "nodev"} <= set(line.split()[3].split(","))
    made = (persistent.directory / "made.txt").stat()
    assert made.st_uid == settings.FILES_OWNER_UID != 1000
    with pytest.raises(KeyError):
        pwd.getpwuid(made.st_uid)  # no host account owns what jobs leave behind
