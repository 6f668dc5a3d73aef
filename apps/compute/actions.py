"""Side effects of compute jobs: register, submit, queue fairly, run, abort, reap.

Flow: ``do_create_job`` checks everything the user asked for (the "run"
privilege of the image and of the domain, each volume's read/write privilege,
lengths, the mount count, no host network outside trusted domains) and queues
the job, at most COMPUTE_MAX_QUEUED_PER_USER per user and domain (more:
``TooManyJobs``, a 429); ``dispatch`` claims as many queued jobs as the domain
has free slots, the user with the least recent usage first and at most
COMPUTE_MAX_RUNNING_PER_USER each, and hands each to the worker
(``workers.compute.run_job``), which calls ``execute_job``: mounts checked
again, users' areas mounted (their file systems are the quota), a scoped job
token (tokens.py), the container (engine.py). ``watch_job`` looks at it in
slices and stops it past its time, over quota, or when a mounted share is
revoked.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from apps.access.actions import builtin_group, do_create_resource, do_grant
from apps.access.models import Group
from apps.access.permissions import access_resource, filter_allowed, owns
from apps.activity import kinds
from apps.activity.actions import do_record_event
from apps.core.tasks import send_task
from apps.files.actions import access_volume, disk_room, mount_area, usage_bytes, volume_actions, volume_fs
from apps.files.models import Volume
from apps.files.paths import PathError, clean_path
from apps.uws import phases

from . import engine, tokens
from .models import ComputeDomain, ComputeImage, ComputeJob

log = logging.getLogger(__name__)
AnyUser = User | AnonymousUser
JOB_SUBMITTED = "compute.job_submitted"  # beside kinds.JOB_RUN (apps/activity/kinds.py is the activity app's)
JOB_ABORTED = "compute.job_aborted"
MAX_OUTPUTS = 500
WATCH_SLICE_S = 5.0  # a worker waits this long for a container, then hands the job on


# --- operators -------------------------------------------------------------------
@transaction.atomic
def do_register_image(name: str, docker_image: str, description: str = "", notebooks: bool = False, owner: User | None = None) -> ComputeImage:
    """Register an image; give "run" with apps.access.actions.do_grant (e.g. to the Public group)."""
    resource = do_create_resource("image", name, owner=owner)
    return ComputeImage.objects.create(name=name, docker_image=docker_image, description=description, notebooks=notebooks, resource=resource)


@transaction.atomic
def do_register_domain(name: str, public: bool = False, **limits: object) -> ComputeDomain:
    """Register a compute domain; who may run jobs in it is its resource's "run" privilege
    (``public``: every registered user). Limits are ComputeDomain fields (cpus, memory_mb, …)."""
    resource = do_create_resource("domain", name)
    domain = ComputeDomain(name=name, resource=resource, **limits)
    domain.clean()  # a Spark Connect address sessions could not use is refused here as in the admin
    domain.save()
    if public:
        do_grant(None, resource, "run", group=builtin_group(Group.KIND_PUBLIC))
    return domain


# --- checked lookups -------------------------------------------------------------
def runnable_images(user: AnyUser) -> QuerySet[ComputeImage]:
    return filter_allowed(user, "run", ComputeImage.objects.filter(enabled=True), "image")


def usable_domains(user: AnyUser) -> QuerySet[ComputeDomain]:
    return filter_allowed(user, "run", ComputeDomain.objects.filter(enabled=True), "domain")


def access_image(user: AnyUser, image_id: int) -> ComputeImage:
    image = ComputeImage.objects.select_related("resource").filter(pk=image_id, enabled=True).first()
    if image is None:
        raise Http404("No such image.")
    access_resource(user, "run", image.resource)
    return image


def access_job(user: AnyUser, job_id: str | uuid.UUID) -> ComputeJob:
    """Jobs are private: their owner (and superusers) see them, others get 404."""
    try:
        job = ComputeJob.objects.select_related("image", "domain", "owner", "workdir_volume__root").get(pk=job_id)
    except (ComputeJob.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such job.") from None
    if not owns(user, job.owner_id):
        raise Http404("No such job.")
    return job


# --- mounts ----------------------------------------------------------------------
def check_mounts(user: AnyUser, requested: list[dict[str, object]], workdir_volume: Volume | None) -> list[engine.MountSpec]:
    """The mounts a user may have: read needs "read", write needs "write"; data volumes are read-only.
    The working folder's volume is mounted too (writable when the user may write it)."""
    specs: dict[int, engine.MountSpec] = {}
    for item in requested:
        volume = access_volume(user, int(str(item["volume"])))
        write = bool(item.get("write"))
        if write and "write" not in volume_actions(user, volume):
            raise PermissionDenied(f"You may not write to the volume {volume.name}.")
        specs[volume.pk] = engine.MountSpec(volume, write or specs.get(volume.pk, engine.MountSpec(volume, False)).write)
    if workdir_volume is not None and workdir_volume.pk not in specs:
        volume = access_volume(user, workdir_volume.pk)
        specs[volume.pk] = engine.MountSpec(volume, "write" in volume_actions(user, volume))
    targets = [engine.mount_target(s.volume) for s in specs.values()]
    if len(set(targets)) != len(targets):
        raise ValidationError("Two volumes would appear at the same place in the container.")
    return list(specs.values())


def workdir_in_container(job: ComputeJob) -> str:
    if job.workdir_volume is None:
        return engine.CONTAINER_TMP
    parts = clean_path(job.workdir_path)
    return "/".join([engine.mount_target(job.workdir_volume), *parts])


# --- submitting ------------------------------------------------------------------
@dataclass
class JobSpec:
    image: ComputeImage
    domain: ComputeDomain
    kind: str = ComputeJob.KIND_COMMAND
    command: str = ""
    notebook: str = ""
    mounts: list[dict[str, object]] | None = None
    workdir_volume: Volume | None = None
    workdir_path: str = ""
    network: bool = False
    run_id: str = ""


class TooManyJobs(ValidationError):
    """The user has as many jobs waiting or running in the domain as a user may."""


MAX_COMMAND = 100_000
MAX_PENDING = 100  # UWS jobs created without PHASE=RUN wait as PENDING: bounded too
MAX_PATH = 1000  # the columns of notebook and workdir_path


def _validate_lengths(spec: JobSpec) -> None:
    if len(spec.command) > MAX_COMMAND:
        raise ValidationError(f"The command is longer than {MAX_COMMAND} characters; put it in a script in the working folder.")
    for label, value in (("notebook path", spec.notebook), ("working folder", spec.workdir_path)):
        if len(value) > MAX_PATH:
            raise ValidationError(f"The {label} is longer than {MAX_PATH} characters.")
    if len(spec.mounts or []) > settings.COMPUTE_MAX_MOUNTS:
        raise ValidationError(f"A job mounts at most {settings.COMPUTE_MAX_MOUNTS} volumes.")


def _validate(user: User, spec: JobSpec) -> None:
    access_resource(user, "run", spec.image.resource)
    if spec.domain.resource is None:
        raise PermissionDenied(f"Nobody may run jobs in {spec.domain.name} yet.")
    access_resource(user, "run", spec.domain.resource)
    if not spec.image.enabled or not spec.domain.enabled:
        raise ValidationError("This image or compute domain is switched off.")
    _validate_lengths(spec)
    if spec.kind == ComputeJob.KIND_NOTEBOOK:
        if not spec.image.notebooks:
            raise ValidationError(f"The image {spec.image.name} cannot run notebooks.")
        if not spec.notebook.endswith(".ipynb") or spec.workdir_volume is None:
            raise ValidationError("A notebook job needs a working folder and the path of an .ipynb file in it.")
        clean_path(spec.notebook)
    elif spec.kind == ComputeJob.KIND_COMMAND:
        if not spec.command.strip():
            raise ValidationError("Give a command to run.")
    else:
        raise ValidationError(f"Unknown job kind {spec.kind!r}.")
    if spec.network and not spec.domain.network:
        raise ValidationError(f"Jobs in {spec.domain.name} run without network.")
    if spec.network and engine.reaches_host(spec.domain.network) and not spec.domain.trusted:
        raise ValidationError(f"Jobs in {spec.domain.name} may not use the host's network; the portal is reachable without it.")
    try:
        clean_path(spec.workdir_path)
    except PathError as exc:
        raise ValidationError(str(exc)) from exc


@transaction.atomic
def do_create_job(user: User, spec: JobSpec, start: bool = True) -> ComputeJob:
    _validate(user, spec)
    if ComputeJob.objects.filter(owner=user, phase__in=(phases.PENDING, phases.HELD)).count() >= MAX_PENDING:
        raise TooManyJobs(f"You have {MAX_PENDING} jobs that were never started; run or delete some first.")
    mounts = check_mounts(user, spec.mounts or [], spec.workdir_volume)
    job = ComputeJob.objects.create(
        owner=user, run_id=spec.run_id[:255], image=spec.image, domain=spec.domain, kind=spec.kind, command=spec.command,
        notebook=spec.notebook, mounts=[{"volume": m.volume.pk, "write": m.write} for m in mounts],
        workdir_volume=spec.workdir_volume, workdir_path="/".join(clean_path(spec.workdir_path)), network=spec.network,
    )
    do_record_event(JOB_SUBMITTED, user=user, summary=f"submitted compute job {job.id} ({spec.image.name})", job=str(job.id))
    if start:
        do_run_job(user, job)
    return job


@transaction.atomic
def do_update_job(user: User, job: ComputeJob, spec: JobSpec) -> ComputeJob:
    """Change a PENDING job (UWS parameters); the same checks as at creation."""
    _validate(user, spec)
    mounts = check_mounts(user, spec.mounts or [], spec.workdir_volume)
    fields = {
        "image": spec.image, "domain": spec.domain, "kind": spec.kind, "command": spec.command, "notebook": spec.notebook,
        "mounts": [{"volume": m.volume.pk, "write": m.write} for m in mounts], "workdir_volume": spec.workdir_volume,
        "workdir_path": "/".join(clean_path(spec.workdir_path)), "network": spec.network, "run_id": spec.run_id[:255] or job.run_id,
    }
    if ComputeJob.objects.filter(pk=job.pk, phase=phases.PENDING).update(**fields) != 1:
        raise ValidationError("Only a pending job can be changed.")
    job.refresh_from_db()
    return job


def _check_user_limit(job: ComputeJob) -> None:
    """At most COMPUTE_MAX_QUEUED_PER_USER jobs of one user wait or run in a domain. The user's row
    is locked first, so two submissions at once cannot both take the last place."""
    User.objects.select_for_update().filter(pk=job.owner_id).first()
    limit = settings.COMPUTE_MAX_QUEUED_PER_USER
    active = ComputeJob.objects.filter(owner_id=job.owner_id, domain_id=job.domain_id, phase__in=(phases.QUEUED, phases.EXECUTING))
    if active.count() >= limit:
        raise TooManyJobs(
            f"You have {limit} jobs waiting or running in {job.domain.name}, the most a user may have there; "
            "wait for one to end (or abort one) before starting another."
        )


@transaction.atomic
def do_run_job(user: User, job: ComputeJob) -> ComputeJob:
    """PENDING -> QUEUED, then dispatch (after commit, so the worker sees the job)."""
    _check_user_limit(job)
    updated = ComputeJob.objects.filter(pk=job.pk, phase__in=(phases.PENDING, phases.HELD)).update(phase=phases.QUEUED)
    if updated != 1:
        raise ValidationError("Only a pending job can be started.")
    job.phase = phases.QUEUED
    domain_id = job.domain_id
    transaction.on_commit(lambda: dispatch_later(domain_id))
    return job


@transaction.atomic
def do_abort_job(user: User, job: ComputeJob) -> ComputeJob:
    """Abort a pending, queued or running job; a running container is killed at once."""
    was = job.phase
    updated = ComputeJob.objects.filter(pk=job.pk, phase__in=(phases.PENDING, phases.HELD, phases.QUEUED, phases.EXECUTING)).update(
        phase=phases.ABORTED, end_time=timezone.now()
    )
    if updated != 1:
        return job  # aborting a finished job changes nothing (UWS)
    job.refresh_from_db()
    do_record_event(JOB_ABORTED, user=user, summary=f"aborted compute job {job.id}", job=str(job.id))
    if was == phases.EXECUTING:
        transaction.on_commit(lambda: engine.kill(job))
    domain_id = job.domain_id
    transaction.on_commit(lambda: dispatch_later(domain_id))
    return job


@transaction.atomic
def do_delete_job(user: User, job: ComputeJob) -> None:
    if not job.is_final:
        do_abort_job(user, job)
    _revoke_token(job)
    ComputeJob.objects.filter(pk=job.pk).delete()


# --- fair queueing ---------------------------------------------------------------
def recent_usage(owner_ids: set[int], now: dt.datetime | None = None) -> dict[int, float]:
    """Seconds of run time per user in the last COMPUTE_FAIRNESS_HOURS (running jobs count up to now)."""
    now = now or timezone.now()
    since = now - dt.timedelta(hours=settings.COMPUTE_FAIRNESS_HOURS)
    usage = dict.fromkeys(owner_ids, 0.0)
    rows = ComputeJob.objects.filter(owner_id__in=owner_ids, start_time__gte=since).values_list("owner_id", "start_time", "end_time")
    for owner_id, start, end in rows:
        if start is not None:
            usage[owner_id] += ((end or now) - start).total_seconds()
    return usage


def queue_order(domain: ComputeDomain) -> list[ComputeJob]:
    """Queued jobs in the order they should start: least recent usage first, then oldest."""
    queued = list(ComputeJob.objects.filter(domain=domain, phase=phases.QUEUED).order_by("created")[:500])
    usage = recent_usage({j.owner_id for j in queued})
    return sorted(queued, key=lambda j: (usage[j.owner_id], j.created))


def dispatch(domain_id: int, send: Callable[[str], object] | None = None) -> list[str]:
    """Claim queued jobs for the free slots of a domain and send them to the worker; a user
    runs at most COMPUTE_MAX_RUNNING_PER_USER jobs at once, so one user cannot hold every slot."""
    claimed: list[str] = []
    with transaction.atomic():
        domain = ComputeDomain.objects.select_for_update().get(pk=domain_id)  # one dispatcher per domain at a time
        running = list(ComputeJob.objects.filter(domain=domain, phase=phases.EXECUTING).values_list("owner_id", flat=True))
        free = domain.max_jobs - len(running)
        per_user = {owner: running.count(owner) for owner in set(running)}
        for job in queue_order(domain):
            if free <= 0:
                break
            if per_user.get(job.owner_id, 0) >= settings.COMPUTE_MAX_RUNNING_PER_USER:
                continue
            if ComputeJob.objects.filter(pk=job.pk, phase=phases.QUEUED).update(phase=phases.EXECUTING, start_time=timezone.now()) == 1:
                claimed.append(str(job.id))
                free -= 1
                per_user[job.owner_id] = per_user.get(job.owner_id, 0) + 1
    for job_id in claimed:
        (send or _send)(job_id)
    return claimed


def _send(job_id: str) -> None:
    send_task("workers.compute.run_job", job_id)


def _watch_later(job_id: str) -> None:
    send_task("workers.compute.watch_job", job_id)


def dispatch_later(domain_id: int) -> None:
    send_task("workers.compute.dispatch_jobs", domain_id)


# --- running (worker side) -------------------------------------------------------
def _token_for(job: ComputeJob) -> str:
    return tokens.new_job_key(job)


def _revoke_token(job: ComputeJob) -> None:
    tokens.end_job_key(job.pk)


Snapshot = dict[str, tuple[int, float]]


def _files(job: ComputeJob) -> Snapshot:
    """(size, mtime) of every file under the working folder (bounded)."""
    if job.workdir_volume is None:
        return {}
    fs = volume_fs(job.workdir_volume)
    found: Snapshot = {}
    stack = [job.workdir_path]
    while stack and len(found) < 10 * MAX_OUTPUTS:
        folder = stack.pop()
        try:
            entries = fs.listdir(folder)
        except PathError:
            continue
        for entry in entries:
            path = f"{folder}/{entry.name}" if folder else entry.name
            if entry.is_dir:
                stack.append(path)
            else:
                found[path] = (entry.size, entry.modified)
    return found


def _outputs(job: ComputeJob, before: Snapshot | None) -> list[dict[str, object]]:
    """Files in the working folder that the job created or changed. Without a snapshot
    (a job picked up again after its worker died), those modified since it started."""
    if job.workdir_volume is None or job.start_time is None:
        return []
    since = job.start_time.timestamp() - 1
    changed = [
        {"volume": job.workdir_volume.pk, "path": path, "size": size}
        for path, (size, modified) in sorted(_files(job).items())
        if (before.get(path) != (size, modified) if before is not None else modified >= since)
    ]
    return changed[:MAX_OUTPUTS]


def _fail(job: ComputeJob, message: str) -> None:
    ComputeJob.objects.filter(pk=job.pk, phase=phases.EXECUTING).update(phase=phases.ERROR, error=message, end_time=timezone.now())


def execute_job(job_id: str) -> str:
    """Start the container of a claimed (EXECUTING) job; returns its phase (EXECUTING while it runs).
    The worker then calls ``watch_job`` in short slices, so a long job never holds a worker."""
    job = ComputeJob.objects.select_related("image", "domain", "owner", "workdir_volume__root", "workdir_volume__owner").get(pk=job_id)
    if job.phase != phases.EXECUTING or job.container_id:
        return job.phase  # aborted meanwhile, or started already (a redelivered message)
    try:
        workdir_volume = job.workdir_volume
        if job.mounts and any(m.get("volume") is None for m in job.mounts):
            raise ValidationError("Malformed mounts.")
        mounts = check_mounts(job.owner, job.mounts, workdir_volume)  # privileges may have changed since submission
        for spec in mounts:
            mount_area(spec.volume)  # the container writes into the size-limited file system, never beside it
        if workdir_volume is not None and "write" in volume_actions(job.owner, workdir_volume):
            with volume_fs(workdir_volume).directory(clean_path(job.workdir_path), create=True):
                pass
        before = _files(job)
        environment = {"DAIQUIRI_URL": settings.COMPUTE_PORTAL_URL, "DAIQUIRI_JOB_ID": str(job.id), "DAIQUIRI_TOKEN": _token_for(job)}
        container_id = engine.start_container(job, mounts, workdir_in_container(job), environment)
    except (PermissionDenied, Http404, ValidationError, PathError) as exc:
        _fail(job, f"The job may not run as submitted: {exc}")
        _revoke_token(job)
        return phases.ERROR
    except Exception as exc:
        log.exception("compute job %s did not start", job.id)
        _fail(job, f"The container did not start: {exc}")
        _revoke_token(job)
        engine.kill(job)
        return phases.ERROR
    ComputeJob.objects.filter(pk=job.pk).update(container_id=container_id, workdir_before=before, watched=timezone.now())
    if not ComputeJob.objects.filter(pk=job.pk, phase=phases.EXECUTING).exists():
        job.container_id = container_id
        engine.kill(job)  # aborted (or deleted) while the container was being created
    return phases.EXECUTING


def watch_job(job_id: str, slice_s: float = WATCH_SLICE_S) -> str | None:
    """Wait at most ``slice_s`` for a started job's container. None: it still runs (watch again);
    otherwise the job's final phase. Over the domain's time limit the container is killed."""
    job = ComputeJob.objects.select_related("domain", "owner", "workdir_volume__root").filter(pk=job_id).first()
    if job is None or not job.container_id or job.exit_code is not None:
        return job.phase if job is not None else phases.ABORTED
    if job.phase not in (phases.EXECUTING, phases.ABORTED):
        return job.phase
    assert job.start_time is not None
    ComputeJob.objects.filter(pk=job.pk).update(watched=timezone.now())
    remaining = job.domain.max_runtime_s - (timezone.now() - job.start_time).total_seconds()
    try:
        exit_code = engine.wait(job, max(0.1, min(slice_s, remaining)))
    except Exception as exc:
        log.exception("compute job %s: lost its container", job.id)
        _fail(job, f"The container was lost: {exc}")
        _revoke_token(job)
        return phases.ERROR
    timed_out = exit_code is None and remaining <= slice_s
    over_quota = _over_quota(job)
    withdrawn = _withdrawn(job) if exit_code is None else ""
    if exit_code is None and not timed_out and not over_quota and not withdrawn:
        return None
    if exit_code is None:
        engine.kill(job)
    return _finish(job, exit_code, timed_out, over_quota, withdrawn)


def _withdrawn(job: ComputeJob) -> str:
    """Why the job may no longer have its mounts ('' if it may): a share revoked while it runs stops it,
    since the container would otherwise go on reading (or writing) the volume."""
    try:
        check_mounts(job.owner, job.mounts, job.workdir_volume)
    except (PermissionDenied, Http404, ValidationError) as exc:
        return str(exc) if not isinstance(exc, Http404) else "A volume it mounts is no longer shared with you."
    return ""


def _over_quota(job: ComputeJob) -> str:
    """The root whose quota a writable mount's owner now exceeds ('' if none). Writes past the quota
    already fail in the area's file system (apps/files/areas.py); this names the cause in the job's
    error, and stops jobs where the portal runs without those file systems (not root)."""
    for mount in job.mounts:
        if not mount.get("write"):
            continue
        volume = Volume.objects.select_related("root").filter(pk=mount["volume"]).first()
        if volume is None or volume.owner_id is None or volume.root.quota_bytes is None:
            continue
        if usage_bytes(volume.owner_id, volume.root) > volume.root.quota_bytes:
            return volume.root.name
    return ""


FULL_BELOW = 64 * 1024  # an area with less room than this left was most likely filled by the job


def _filled_roots(job: ComputeJob) -> list[str]:
    """Roots whose area file system a writable mount of the job left (nearly) full."""
    names = []
    for mount in job.mounts:
        volume = Volume.objects.select_related("root").filter(pk=mount["volume"]).first() if mount.get("write") else None
        room = disk_room(volume) if volume is not None else None
        if volume is not None and room is not None and room < FULL_BELOW:
            names.append(volume.root.name)
    return names


def _finish(job: ComputeJob, exit_code: int | None, timed_out: bool, over_quota: str = "", withdrawn: str = "") -> str:
    """Record what came out of an ended container, then its final phase."""
    try:
        stdout, stderr = engine.collect(job)
    except Exception as exc:  # another watcher collected it first
        log.warning("compute job %s: logs not collected: %s", job.id, exc)
        stdout, stderr = job.stdout, job.stderr
    before = {path: (int(size), float(modified)) for path, (size, modified) in (job.workdir_before or {}).items()}
    outputs = _outputs(job, before)
    ComputeJob.objects.filter(pk=job.pk).update(stdout=stdout, stderr=stderr, exit_code=exit_code if exit_code is not None else -9, outputs=outputs)
    if withdrawn:
        _fail(job, f"The job was stopped because its access changed while it ran: {withdrawn}")
    elif over_quota:
        _fail(job, f"The job's files exceed the quota of {over_quota}: it was stopped (or failed). Remove files to free space.")
    elif timed_out:
        _fail(job, f"The job ran longer than the limit of {job.domain.max_runtime_s} s of {job.domain.name} and was stopped.")
    elif exit_code == 0:
        ComputeJob.objects.filter(pk=job.pk, phase=phases.EXECUTING).update(phase=phases.COMPLETED, end_time=timezone.now())
    elif filled := _filled_roots(job):
        _fail(job, f"The command ended with exit code {exit_code}, having filled the quota of {', '.join(filled)}: "
                   "writes past it failed and were not kept. Remove files to free space.")
    else:
        _fail(job, f"The command ended with exit code {exit_code}.")
    _revoke_token(job)
    if not ComputeJob.objects.filter(pk=job.pk).exists():
        return phases.ABORTED  # deleted by its owner while it ran
    job.refresh_from_db()
    do_record_event(kinds.JOB_RUN, user=job.owner, summary=f"compute job {job.id} ended {job.phase}", job=str(job.id), seconds=job.runtime_s)
    return job.phase


def reap() -> int:
    """Jobs whose container vanished (engine restarted, worker killed hard) end in ERROR; notebook
    sessions idle past their domain's limit are stopped (sessions.cull_sessions)."""
    count = 0
    now = timezone.now()
    unwatched = ComputeJob.objects.filter(phase=phases.EXECUTING, watched__lt=now - dt.timedelta(seconds=60)).exclude(container_id="")
    for job_id in unwatched.values_list("pk", flat=True):
        _watch_later(str(job_id))  # its watcher's message was lost; a second watcher is harmless
    for job in ComputeJob.objects.filter(phase=phases.EXECUTING, start_time__lt=now - dt.timedelta(seconds=120)).select_related("domain"):
        assert job.start_time is not None
        overdue = (now - job.start_time).total_seconds() > job.domain.max_runtime_s + 300
        if (job.container_id and engine.container_state(job) is None) or (not job.container_id and overdue):
            _fail(job, "The job's container disappeared (the engine or its worker stopped).")
            _revoke_token(job)
            count += 1
    from .sessions import cull_sessions  # sessions.py builds on this module

    cull_sessions(now)
    return count
