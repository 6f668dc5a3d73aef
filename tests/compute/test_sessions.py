"""Notebook sessions against the real Docker engine and a real JupyterLab (daiquiri/jupyter, built by
scripts/services.d/30-docker), through the portal's ASGI app served by uvicorn: HTTP and WebSocket
reach a session only for its owner, the session's key is scoped and dies with it, idle sessions are
culled, and a user's fourth session is refused."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import uvicorn
import websockets
from django.contrib.auth.models import User
from django.test import Client

from apps.access.actions import builtin_group, do_grant
from apps.access.models import Group
from apps.activity.models import Event
from apps.compute import gateway, sessions
from apps.compute.actions import do_register_domain, do_register_image
from apps.compute.models import ComputeDomain, ComputeImage, ComputeSession
from apps.compute.proxy import NOT_FORWARDED, jupyter_cookies, upstream_headers
from apps.files.actions import do_ensure_default_volumes, do_sync_roots
from apps.files.models import Volume
from tests.conftest import make_user
from tests.files.conftest import configure_roots, release_roots

pytestmark = [pytest.mark.django_db(transaction=True)]
READY_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Portal:
    url: str
    host: str  # host:port, as the browser sends it


@contextlib.contextmanager
def serving(port: int) -> Iterator[None]:
    """The portal's ASGI application (daiquiri/asgi.py) served by uvicorn in a thread, on this test's database."""
    from daiquiri.asgi import application

    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="websockets-sansio"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def asgi_portal(settings: Any, docker_host: str, tmp_path: Path) -> Iterator[Portal]:
    """The portal served by uvicorn (``serving``); the gateway of the Docker engine forwards to it.
    Sessions' containers and the gateway are removed afterwards."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings.DOCKER_HOST = docker_host
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    settings.COMPUTE_PORTAL_URL = settings.SITE_URL = url
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with serving(port):
        yield Portal(url, f"127.0.0.1:{port}")
    client = docker.DockerClient(base_url=docker_host)
    for container in client.containers.list(all=True, filters={"label": "org.daiquiri.session"}):
        if container.labels.get("org.daiquiri.session") in {str(s) for s in ComputeSession.objects.values_list("pk", flat=True)}:
            container.remove(force=True)
    host, gw_port = gateway.upstream()
    for container in client.containers.list(all=True, filters={"label": f"org.daiquiri.gateway={host}:{gw_port}"}):
        container.remove(force=True)
    client.close()


@pytest.fixture
def lab_roots(settings: Any, tmp_path: Path, transactional_db: None) -> Iterator[None]:
    configure_roots(settings, tmp_path / "files", quota=50_000_000, filesystems=True)
    do_sync_roots()
    yield
    release_roots(tmp_path / "files")


@pytest.fixture
def lab_domain(transactional_db: None) -> ComputeDomain:
    return do_register_domain("lab", public=True, cpus=1.0, memory_mb=1024, max_jobs=2)


@pytest.fixture
def lab_image(transactional_db: None) -> ComputeImage:
    image = do_register_image("jupyterlab", "daiquiri/jupyter:latest")
    image.jupyterlab = True
    image.save()
    do_grant(None, image.resource, "run", group=builtin_group(Group.KIND_PUBLIC))
    return image


def storage_of(user: User) -> Volume:
    do_ensure_default_volumes(user)
    return Volume.objects.get(owner=user, is_default=True, root__name="Storage")


def wait_running(session: ComputeSession, seconds: float = READY_S) -> ComputeSession:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        session = sessions.refresh(session)
        if session.state != ComputeSession.STARTING:
            break
        time.sleep(0.25)
    assert session.state == ComputeSession.RUNNING, session.error
    return session


def cookies_of(user: User) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


@pytest.fixture
def started(asgi_portal: Portal, lab_roots: None, lab_domain: ComputeDomain, lab_image: ComputeImage) -> Callable[[User], ComputeSession]:
    def start(user: User) -> ComputeSession:
        storage = storage_of(user)
        return sessions.do_start_session(user, lab_image, lab_domain, [{"volume": storage.pk, "write": True}])

    return start


def test_jupyterlab_answers_its_owner_alone_over_http(asgi_portal: Portal, started: Callable[[User], ComputeSession]) -> None:
    owner, other = make_user("ada"), make_user("bob")
    session = wait_running(started(owner))
    lab = f"{asgi_portal.url}{session.base_url}lab"
    with httpx.Client(cookies=cookies_of(owner)) as client:
        page = client.get(lab)
        assert page.status_code == 200 and "JupyterLab" in page.text
        assert "frame-ancestors" in page.headers.get("content-security-policy", "")  # Jupyter's own policy, not the portal's
        assert "sessionid" not in page.headers.get("set-cookie", "")
        # Jupyter's XSRF check works through the proxy: without its token a POST is refused, with it accepted.
        assert client.post(f"{asgi_portal.url}{session.base_url}api/kernels", json={}).status_code == 403
        xsrf = client.cookies.get("_xsrf")
        assert xsrf
        kernel = client.post(f"{asgi_portal.url}{session.base_url}api/kernels", json={}, headers={"X-XSRFToken": xsrf})
        assert kernel.status_code == 201, kernel.text
        # Another site's page cannot make the owner's browser call the session.
        assert client.get(lab, headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}).status_code == 403
    with httpx.Client(cookies=cookies_of(other)) as client:
        assert client.get(lab).status_code == 404
        assert client.get(f"{asgi_portal.url}{session.base_url}api/kernels").status_code == 404
    assert httpx.get(lab).status_code == 404  # anonymous
    assert httpx.get(f"{asgi_portal.url}/compute/session/{session.pk}/", cookies=cookies_of(other)).status_code == 404


def _kernel_socket(portal: Portal, session: ComputeSession, kernel_id: str, cookies: dict[str, str], origin: str) -> str:
    """Open a kernel's channels WebSocket through the proxy and run one execute request; returns its stream output."""
    url = f"ws://{portal.host}{session.base_url}api/kernels/{kernel_id}/channels"
    header = "; ".join(f"{k}={v}" for k, v in cookies.items())

    async def talk() -> str:
        async with websockets.connect(url, additional_headers={"Cookie": header}, origin=origin, open_timeout=20) as ws:  # type: ignore[arg-type]
            msg_id = "m1"
            await ws.send(json.dumps({
                "header": {"msg_id": msg_id, "username": "", "session": "s1", "msg_type": "execute_request", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell",
                "content": {"code": "print(6 * 7)", "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False},
            }))
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if reply.get("msg_type") == "stream" and reply.get("parent_header", {}).get("msg_id") == msg_id:
                    return str(reply["content"]["text"])

    return asyncio.run(talk())


def test_kernels_websocket_reaches_its_owner_alone(asgi_portal: Portal, started: Callable[[User], ComputeSession]) -> None:
    owner, other = make_user("ada"), make_user("bob")
    session = wait_running(started(owner))
    mine = cookies_of(owner)
    with httpx.Client(cookies=mine) as client:
        client.get(f"{asgi_portal.url}{session.base_url}lab")
        xsrf = client.cookies.get("_xsrf") or ""
        kernel = client.post(f"{asgi_portal.url}{session.base_url}api/kernels", json={}, headers={"X-XSRFToken": xsrf}).json()
    assert _kernel_socket(asgi_portal, session, kernel["id"], mine, asgi_portal.url).strip() == "42"
    for cookies, origin in ((cookies_of(other), asgi_portal.url), ({}, asgi_portal.url), (mine, "https://evil.example")):
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            _kernel_socket(asgi_portal, session, kernel["id"], cookies, origin)
        assert refused.value.response.status_code == 403


def test_the_session_is_sandboxed_and_its_key_reaches_tap_and_files_only_until_it_stops(
    asgi_portal: Portal, started: Callable[[User], ComputeSession], docker_host: str
) -> None:
    owner = make_user("ada")
    session = wait_running(started(owner))
    client = docker.DockerClient(base_url=docker_host)
    container = client.containers.get(session.container_id)
    host_config = container.attrs["HostConfig"]
    assert host_config["NetworkMode"] == "none" and host_config["ReadonlyRootfs"] and host_config["CapDrop"] == ["ALL"]
    assert container.attrs["Config"]["User"] == "70000:70000" and host_config["Memory"] == 1024 * 2**20
    interfaces = container.exec_run(["cat", "/proc/net/dev"]).output.decode()
    assert [line.split(":")[0].strip() for line in interfaces.splitlines()[2:]] == ["lo"]
    assert container.exec_run(["touch", "/usr/local/x"]).exit_code != 0  # read-only root file system
    env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
    client.close()
    key = env["DAIQUIRI_TOKEN"]
    assert key.startswith("dses_") and env["HOME"] == "/home/portal"
    auth = {"Authorization": f"Token {key}"}
    assert httpx.get(f"{asgi_portal.url}/files/api/volumes/", headers=auth).status_code == 200
    assert httpx.get(f"{asgi_portal.url}/accounts/tokens/", headers=auth, follow_redirects=False).status_code in (302, 401, 403)
    sessions.do_stop_session(session, "test")
    assert httpx.get(f"{asgi_portal.url}/files/api/volumes/", headers=auth).status_code in (401, 403)


def test_an_idle_session_is_culled_and_its_container_removed(
    asgi_portal: Portal, started: Callable[[User], ComputeSession], lab_domain: ComputeDomain, docker_host: str
) -> None:
    owner = make_user("ada")
    session = wait_running(started(owner))
    client = docker.DockerClient(base_url=docker_host)
    memory = client.containers.get(session.container_id).stats(stream=False)["memory_stats"]
    client.close()
    print(f"\nidle notebook session without a kernel: {(memory['usage'] - memory.get('stats', {}).get('inactive_file', 0)) / 2**20:.0f} MB")
    ComputeDomain.objects.filter(pk=lab_domain.pk).update(session_idle_s=1)
    time.sleep(2.5)
    assert sessions.cull_sessions() == [str(session.pk)]
    session.refresh_from_db()
    assert session.state == ComputeSession.STOPPED and "idle" in session.stop_reason and not session.token_hash
    client = docker.DockerClient(base_url=docker_host)
    assert not client.containers.list(all=True, filters={"label": f"org.daiquiri.session={session.pk}"})
    client.close()
    assert Event.objects.filter(kind=sessions.SESSION_STOPPED, user=owner).exists()
    assert httpx.get(f"{asgi_portal.url}{session.base_url}lab", cookies=cookies_of(owner)).status_code == 404


def test_a_fourth_session_is_refused_with_a_clear_message(lab_roots: None, lab_domain: ComputeDomain, lab_image: ComputeImage) -> None:
    owner = make_user("ada")
    for _ in range(3):  # live sessions count, whatever their container does
        ComputeSession.objects.create(owner=owner, image=lab_image, domain=lab_domain, state=ComputeSession.RUNNING)
    ComputeSession.objects.create(owner=owner, image=lab_image, domain=lab_domain, state=ComputeSession.STOPPED)
    client = Client()
    client.force_login(owner)
    response = client.post("/compute/api/sessions/", {"image": lab_image.name, "domain": lab_domain.name}, content_type="application/json")
    assert response.status_code == 429
    assert "You have 3 notebook sessions open in lab" in response.json()["detail"]
    page = client.post("/compute/session/start", {"image": lab_image.pk, "domain": lab_domain.pk}, follow=True)
    assert "stop one before starting another" in page.content.decode()
    assert ComputeSession.objects.filter(owner=owner).count() == 4


def test_a_session_mounts_only_what_the_user_may(lab_roots: None, lab_domain: ComputeDomain, lab_image: ComputeImage) -> None:
    owner, other = make_user("ada"), make_user("bob")
    theirs = storage_of(other)
    client = Client()
    client.force_login(owner)
    response = client.post("/compute/api/sessions/", {"image": lab_image.name, "mounts": [{"volume": theirs.pk, "write": True}]},
                           content_type="application/json")
    assert response.status_code == 404 and "volume" in response.json()["detail"].lower()
    assert not ComputeSession.objects.exists()


def test_operators_see_and_stop_sessions_in_the_admin(lab_roots: None, lab_domain: ComputeDomain, lab_image: ComputeImage,
                                                       engine: str) -> None:
    owner = make_user("ada")
    live = ComputeSession.objects.create(owner=owner, image=lab_image, domain=lab_domain, state=ComputeSession.RUNNING)
    admin = Client()
    admin.force_login(make_user("root", is_staff=True, is_superuser=True))
    listing = admin.get("/admin/compute/computesession/")
    assert listing.status_code == 200 and str(live.pk) in listing.content.decode()
    response = admin.post("/admin/compute/computesession/", {"action": "stop_sessions", "_selected_action": [str(live.pk)]})
    assert response.status_code == 302
    live.refresh_from_db()
    assert live.state == ComputeSession.STOPPED and "operator root" in live.stop_reason
    assert Event.objects.filter(kind=sessions.SESSION_STOPPED, user=owner).exists()


def test_a_session_survives_a_portal_restart(asgi_portal: Portal, started: Callable[[User], ComputeSession]) -> None:
    """The proxy keeps nothing in memory: another server process (a restarted portal) opens the same session."""
    owner = make_user("ada")
    session = wait_running(started(owner))
    port = _free_port()
    with serving(port):
        page = httpx.get(f"http://127.0.0.1:{port}{session.base_url}lab", cookies=cookies_of(owner))
    assert page.status_code == 200 and "JupyterLab" in page.text
    assert sessions.refresh(session).state == ComputeSession.RUNNING


def test_the_proxy_passes_only_jupyters_cookies() -> None:
    """The portal's session and CSRF cookies never reach the container (user code could pick them up there)."""
    headers = [(b"cookie", b"sessionid=secret; _xsrf=2|ab|cd; csrftoken=t"), (b"cookie", b"username-127-0-0-1-8000=\"x\"; other=1")]
    assert jupyter_cookies(headers) == '_xsrf=2|ab|cd; username-127-0-0-1-8000="x"'
    scope = {"headers": [*headers, (b"authorization", b"Token abc"), (b"accept", b"text/html")]}
    forwarded = upstream_headers(scope, NOT_FORWARDED)
    assert ("accept", "text/html") in forwarded and not any(k.lower() == "authorization" for k, _ in forwarded)
    assert [v for k, v in forwarded if k == "Cookie"] == ['_xsrf=2|ab|cd; username-127-0-0-1-8000="x"']
