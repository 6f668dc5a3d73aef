"""Interactive notebook sessions: JupyterLab in a container, reached only through the portal's proxy.

Flow: ``do_start_session`` checks what the user asked for exactly as a batch
job is checked (the "run" privilege of the image and of the domain, each
volume's read/write privilege through ``check_mounts``), holds the domain's
per-user limit (``max_sessions_per_user``, a ``TooManySessions``), and after
commit ``launch`` starts the container: no network (the portal is reached
through the gateway socket, gateway.py, with a scoped session key that dies
with the session, tokens.py), the uid 70000, the domain's CPU and memory, a
read-only root file system with private tmpfs home and /tmp. JupyterLab
listens on a Unix socket in a per-session host folder (``socket_path``), which
only the portal reaches; proxy.py serves it to the session's owner alone.

``refresh`` turns "starting" into "running" once JupyterLab answers (and
notices a vanished container); ``cull_sessions`` (run with the job reaper in
every worker) stops sessions idle longer than their domain allows: activity is
the latest of the proxy's last request and JupyterLab's own ``last_activity``
(kernels, terminals, API calls), as jupyterhub-idle-culler measures it.
A session survives a portal restart: its state is in the database, its
container and socket live on the engine and the host.

Spark Connect: only where the operator turned it on for the domain
(``ComputeDomain.spark_connect``, off by default: Spark Connect has no per-user
authentication, so every user of the domain reads whatever that Spark server
can) does a session get a second gateway socket leading to that one Spark
Connect server, and ``SPARK_REMOTE`` pointing at the image's local forwarder
(``daiquiri_client.spark``). Other sessions have neither, and no route to Spark.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import docker
import httpx
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from docker.errors import APIError, DockerException, NotFound
from docker.types import Mount

from apps.access.permissions import access_resource
from apps.activity.actions import do_record_event
from apps.files.actions import mount_area
from apps.files.models import Volume

from . import engine, gateway, tokens
from .actions import check_mounts
from .models import ComputeDomain, ComputeImage, ComputeSession, spark_address_error

log = logging.getLogger(__name__)
AnyUser = User | AnonymousUser
SESSION_STARTED = "compute.session_started"
SESSION_STOPPED = "compute.session_stopped"
CONTAINER_DIR = "/run/session"  # the per-session folder inside the container
SOCKET_NAME = "jupyter.sock"
HOME = "/home/portal"
START_TIMEOUT_S = 180  # a session that never answered is failed after this long
ACTIVITY_EVERY_S = 30  # the proxy records activity at most this often per session
SPARK_LOCAL_PORT = 15002  # where the session's forwarder serves Spark Connect on its own loopback


class TooManySessions(ValidationError):
    """The user has as many live sessions in the domain as a user may."""


# --- checked lookups -------------------------------------------------------------
def access_session(user: AnyUser, session_id: str | uuid.UUID) -> ComputeSession:
    """Sessions are private: their owner sees them; anyone else (superusers too: a live Jupyter runs
    code as its owner) gets 404. Operators stop sessions in the admin."""
    try:
        session = ComputeSession.objects.select_related("image", "domain", "owner").get(pk=session_id)
    except (ComputeSession.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such session.") from None
    if not (user.is_authenticated and user.pk == session.owner_id):
        raise Http404("No such session.")
    return session


def proxied_session(user: AnyUser, session_id: str) -> ComputeSession | None:
    """The live session the proxy may open for ``user``: only its owner's, only while it is live."""
    try:
        session = access_session(user, session_id)
    except Http404:
        return None
    return session if session.is_live else None


def folder(session: ComputeSession) -> Path:
    """The session's host folder (short: Unix socket paths are limited to 107 bytes)."""
    return Path(settings.COMPUTE_GATEWAY_DIR).parent / "sessions" / session.id.hex


def socket_path(session: ComputeSession) -> str:
    return str(folder(session) / SOCKET_NAME)


# --- starting --------------------------------------------------------------------
def _check_start(user: User, image: ComputeImage, domain: ComputeDomain) -> None:
    access_resource(user, "run", image.resource)
    if domain.resource is None:
        raise PermissionDenied(f"Nobody may start sessions in {domain.name} yet.")
    access_resource(user, "run", domain.resource)
    if not (image.enabled and domain.enabled):
        raise ValidationError("This image or compute domain is switched off.")
    if not image.jupyterlab:
        raise ValidationError(f"The image {image.name} has no JupyterLab.")


def _check_limit(user: User, domain: ComputeDomain) -> None:
    """At most the domain's max_sessions_per_user live sessions; the user's row is locked first,
    so two starts at once cannot both take the last place."""
    User.objects.select_for_update().filter(pk=user.pk).first()
    limit = domain.max_sessions_per_user
    if ComputeSession.objects.filter(owner=user, domain=domain, state__in=ComputeSession.LIVE).count() >= limit:
        raise TooManySessions(
            f"You have {limit} notebook sessions open in {domain.name}, the most a user may have there; "
            "stop one before starting another."
        )


@transaction.atomic
def do_start_session(user: User, image: ComputeImage, domain: ComputeDomain, mounts: list[dict[str, object]]) -> ComputeSession:
    _check_start(user, image, domain)
    if len(mounts) > settings.COMPUTE_MAX_MOUNTS:
        raise ValidationError(f"A session mounts at most {settings.COMPUTE_MAX_MOUNTS} volumes.")
    specs = check_mounts(user, mounts, None)
    _check_limit(user, domain)
    session = ComputeSession.objects.create(
        owner=user, image=image, domain=domain, mounts=[{"volume": m.volume.pk, "write": m.write} for m in specs],
    )
    do_record_event(SESSION_STARTED, user=user, summary=f"started notebook session {session.id} ({image.name})", session=str(session.id))
    transaction.on_commit(lambda: launch(session.pk))
    return session


def _prepare_folder(path: Path) -> None:
    """Owned by the container's uid (it creates the socket there), closed to everyone else on the host:
    JupyterLab has no token, so whoever reaches the socket runs code as the user. A portal not run as
    root must itself run as FILES_OWNER_UID (as it must to write users' volumes); never world-open."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(path, settings.FILES_OWNER_UID, settings.FILES_OWNER_GID)
    elif os.geteuid() != settings.FILES_OWNER_UID:
        raise ValidationError("Notebook sessions need the portal to run as root or as FILES_OWNER_UID.")
    path.chmod(0o700)


def session_spark_remote(address: str, username: str) -> str:
    """The SPARK_REMOTE a session gets for the domain's Spark Connect ``address``: the same parameters
    (token, ...), at the session's local forwarder, with the portal user as Spark's user_id (a name
    in Spark's logs and sessions, not an authentication: Spark Connect has none)."""
    parts = urllib.parse.urlsplit(address)
    params = [p for p in parts.path.lstrip("/").split(";") if p]
    if not any(p.split("=", 1)[0] == "user_id" for p in params):
        params.append(f"user_id={urllib.parse.quote(username, safe='@.+-')}")
    return f"sc://127.0.0.1:{SPARK_LOCAL_PORT}/;" + ";".join(params)


def _spark_environment(session: ComputeSession) -> dict[str, str]:
    return {"SPARK_REMOTE": session_spark_remote(session.domain.offered_spark_remote(), session.owner.get_username()),
            "DAIQUIRI_SPARK_SOCKET": gateway.SPARK_CONTAINER_SOCKET, "DAIQUIRI_SPARK_PORT": str(SPARK_LOCAL_PORT)}


def _container_kwargs(session: ComputeSession, specs: list[engine.MountSpec], portal_folder: Path, key: str,
                      spark_folder: Path | None = None) -> dict[str, Any]:
    """``spark_folder``: the Spark gateway's socket folder, for a domain that offers Spark Connect."""
    domain = session.domain
    uid, gid = settings.FILES_OWNER_UID, settings.FILES_OWNER_GID
    environment = {
        "HOME": HOME, "DAIQUIRI_URL": settings.COMPUTE_PORTAL_URL, "DAIQUIRI_TOKEN": key, "DAIQUIRI_SESSION_ID": str(session.id),
        "DAIQUIRI_SOCKET": gateway.CONTAINER_SOCKET, "DAIQUIRI_SOCKET_TLS": "1" if gateway.upstream_speaks_tls() else "",
        **(_spark_environment(session) if spark_folder else {}),
    }
    spark_mounts = [Mount(target=gateway.SPARK_SOCKET_DIR, source=str(spark_folder), type="bind", read_only=True)] if spark_folder else []
    return {
        "image": session.image.docker_image, "name": session.container_name, "detach": True, "user": f"{uid}:{gid}",
        "command": ["/usr/local/bin/start-session", f"{CONTAINER_DIR}/{SOCKET_NAME}", session.base_url],
        "environment": environment, "network_mode": "none", "log_config": engine.log_config(),
        "mem_limit": f"{domain.memory_mb}m", "memswap_limit": f"{domain.memory_mb}m", "nano_cpus": int(domain.cpus * 1e9),
        "pids_limit": engine.PIDS_LIMIT, "read_only": True, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"],
        "mounts": [Mount(target=gateway.SOCKET_DIR, source=str(portal_folder), type="bind", read_only=True),
                   *spark_mounts, Mount(target=CONTAINER_DIR, source=str(folder(session)), type="bind"), *(m.docker() for m in specs)],
        "tmpfs": {engine.CONTAINER_TMP: "rw,exec,nosuid,nodev,size=512m,mode=1777",
                  HOME: f"rw,exec,nosuid,nodev,size=256m,mode=0700,uid={uid},gid={gid}"},
        "labels": {"org.daiquiri.session": str(session.id), "org.daiquiri.owner": str(session.owner_id)},
    }


def _spark_gateway(client: docker.DockerClient, domain: ComputeDomain) -> Path | None:
    """The socket folder of the gateway to the domain's Spark Connect server; None when it offers none."""
    address = domain.offered_spark_remote()
    if not address:
        return None
    error = spark_address_error(address)
    if error:  # e.g. SPARK_REMOTE changed since the operator turned it on
        raise ValidationError(f"{domain.name} offers Spark Connect, but {error}")
    return gateway.ensure_gateway(client, engine.docker_host(domain), gateway.spark_route(address))


def launch(session_id: uuid.UUID) -> None:
    """Start the container of a new session (after commit); a failure is recorded on the session."""
    session = ComputeSession.objects.select_related("image", "domain", "owner").get(pk=session_id)
    if session.state != ComputeSession.STARTING or session.container_id:
        return
    try:
        specs = check_mounts(session.owner, session.mounts, None)  # privileges may have changed since the request
        for spec in specs:
            mount_area(spec.volume)  # writes go into the size-limited file system, never beside it
        _prepare_folder(folder(session))
        client = engine.client_for(session.domain)
        try:
            portal_folder = gateway.ensure_gateway(client, engine.docker_host(session.domain))
            spark_folder = _spark_gateway(client, session.domain)
            kwargs = _container_kwargs(session, specs, portal_folder, tokens.new_session_key(session), spark_folder)
            container = client.containers.run(**kwargs)
        finally:
            client.close()
    except (PermissionDenied, Http404, ValidationError) as exc:
        _end(session, ComputeSession.FAILED, f"The session may not start as asked: {exc}")
        return
    except Exception as exc:
        log.exception("notebook session %s did not start", session.id)
        _end(session, ComputeSession.FAILED, f"The container did not start: {exc}")
        return
    ComputeSession.objects.filter(pk=session.pk).update(container_id=str(container.id))
    if not ComputeSession.objects.filter(pk=session.pk, state=ComputeSession.STARTING).exists():
        _remove_container(session)  # stopped while it was being created


# --- state -----------------------------------------------------------------------
def jupyter_status(session: ComputeSession, timeout: float = 2.0) -> dict[str, Any] | None:
    """JupyterLab's /api/status through its socket (None while it does not answer)."""
    path = socket_path(session)
    if not Path(path).is_socket():
        return None
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=path), timeout=timeout) as client:
            response = client.get(f"http://localhost{session.base_url}api/status")
        return dict(response.json()) if response.status_code == 200 else None
    except (httpx.HTTPError, json.JSONDecodeError, ValueError, TypeError):
        return None


def _container_status(session: ComputeSession) -> str | None:
    client = engine.client_for(session.domain, timeout=10)
    try:
        return str(client.containers.get(session.container_id or session.container_name).status)
    except NotFound:
        return None
    finally:
        client.close()


def refresh(session: ComputeSession) -> ComputeSession:
    """Look at a live session: starting -> running once JupyterLab answers; a vanished or ended
    container ends it; a session that never answered within START_TIMEOUT_S fails."""
    if session.state == ComputeSession.STARTING and session.container_id:
        if jupyter_status(session) is not None:
            now = timezone.now()
            ComputeSession.objects.filter(pk=session.pk, state=ComputeSession.STARTING).update(
                state=ComputeSession.RUNNING, ready_time=now, last_activity=now)
        elif (timezone.now() - session.created).total_seconds() > START_TIMEOUT_S:
            _end(session, ComputeSession.FAILED, "JupyterLab did not answer in time.")
    elif session.state == ComputeSession.RUNNING and _container_status(session) != "running":
        _end(session, ComputeSession.STOPPED, "", reason="its container ended")
    session.refresh_from_db()
    return session


def note_activity(session_id: str) -> None:
    """Called by the proxy: a request or WebSocket message reached the session (at most every ACTIVITY_EVERY_S)."""
    now = timezone.now()
    ComputeSession.objects.filter(pk=session_id, state=ComputeSession.RUNNING).exclude(
        last_activity__gt=now - dt.timedelta(seconds=ACTIVITY_EVERY_S)).update(last_activity=now)


def last_activity(session: ComputeSession) -> dt.datetime:
    """The latest of the proxy's record and JupyterLab's own (kernels, terminals, API calls)."""
    seen = [t for t in (session.last_activity, session.ready_time, session.created) if t is not None]
    status = jupyter_status(session)
    if status and isinstance(status.get("last_activity"), str):
        parsed = parse_datetime(status["last_activity"].replace("Z", "+00:00"))
        if parsed is not None:
            seen.append(parsed)
    return max(seen)


# --- stopping --------------------------------------------------------------------
def _remove_container(session: ComputeSession) -> None:
    try:
        client = engine.client_for(session.domain)
        try:
            client.containers.get(session.container_id or session.container_name).remove(force=True)
        finally:
            client.close()
    except (NotFound, APIError):
        pass
    shutil.rmtree(folder(session), ignore_errors=True)


def _end(session: ComputeSession, state: str, error: str, reason: str = "") -> bool:
    """Live -> stopped/failed once (whoever gets there first), key revoked, container removed."""
    updated = ComputeSession.objects.filter(pk=session.pk, state__in=ComputeSession.LIVE).update(
        state=state, error=error[:5000], stop_reason=reason[:200], end_time=timezone.now(), token_hash="")
    tokens.end_session_key(session.pk)
    if updated != 1:
        return False
    summary = f"notebook session {session.id} {'failed: ' + error[:200] if state == ComputeSession.FAILED else 'stopped: ' + reason}"
    do_record_event(SESSION_STOPPED, user=session.owner, summary=summary, session=str(session.id), reason=reason or error[:200])
    transaction.on_commit(lambda: _remove_container(session))
    return True


@transaction.atomic
def do_stop_session(session: ComputeSession, reason: str) -> ComputeSession:
    """Stop a live session (by its owner, an operator, or the culler); stopping a stopped one changes nothing."""
    _end(session, ComputeSession.STOPPED, "", reason=reason)
    session.refresh_from_db()
    return session


def cull_sessions(now: dt.datetime | None = None) -> list[str]:
    """Stop sessions idle longer than their domain's session_idle_s, fail those that never came up,
    and end those whose container is gone. Returns the ids of the sessions stopped as idle."""
    now = now or timezone.now()
    culled = []
    for session in ComputeSession.objects.filter(state__in=ComputeSession.LIVE).select_related("domain", "owner", "image"):
        try:
            session = refresh(session)
        except DockerException as exc:  # an engine that does not answer now is asked again at the next round
            log.warning("notebook session %s: its engine does not answer: %s", session.id, exc)
            continue
        if session.state != ComputeSession.RUNNING:
            continue
        idle = (now - last_activity(session)).total_seconds()
        if idle > session.domain.session_idle_s:
            do_stop_session(session, f"idle for {int(idle)} s (the limit in {session.domain.name} is {session.domain.session_idle_s} s)")
            culled.append(str(session.id))
    return culled


def session_volumes(session: ComputeSession) -> list[dict[str, object]]:
    """Where each mounted volume appears in JupyterLab's file browser (the home folder links to them)."""
    volumes = {v.pk: v for v in Volume.objects.filter(pk__in=[m["volume"] for m in session.mounts]).select_related("root", "owner")}
    return [{"path": HOME + engine.mount_target(volumes[m["volume"]]), "write": m["write"]} for m in session.mounts if m["volume"] in volumes]
