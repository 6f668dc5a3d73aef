"""Compute pages (submit, jobs, one job) and the JSON API; the UWS endpoint is in uws.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from apps.files.actions import actions_by_volume, readable_volumes
from apps.files.models import Volume
from apps.files.paths import PathError
from apps.uws import phases

from . import actions, sessions
from .engine import CONTAINER_TMP, mount_target
from .models import ComputeJob, ComputeSession
from .specs import find_domain, find_image, spec_from_json


def _user(request: HttpRequest | Request) -> User:
    assert isinstance(request.user, User)
    return request.user


def _form_data(request: HttpRequest) -> dict[str, Any]:
    """The submit form as the JSON API's shape: mount_<id> = "ro" | "rw" | ""."""
    post = request.POST
    mounts = [
        {"volume": key.removeprefix("mount_"), "write": value == "rw"}
        for key, value in post.items() if key.startswith("mount_") and value in ("ro", "rw")
    ]
    return {
        "image": post.get("image"), "domain": post.get("domain"), "kind": post.get("kind"), "command": post.get("command", ""),
        "notebook": post.get("notebook", ""), "mounts": mounts, "network": post.get("network", ""), "run_id": post.get("run_id", ""),
        "workdir": {"volume": post.get("workdir_volume") or None, "path": post.get("workdir_path", "")},
    }


@login_required
def index(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if request.method == "POST":
        try:
            job = actions.do_create_job(user, spec_from_json(user, _form_data(request)))
        except (ValidationError, PermissionDenied, PathError) as exc:
            messages.error(request, exc.messages[0] if isinstance(exc, ValidationError) else str(exc))
        else:
            messages.success(request, "The job is queued.")
            return redirect("compute:job", job.pk)
    readable = list(readable_volumes(user))
    held = actions_by_volume(user, readable)
    volumes = [{"volume": v, "can_write": "write" in held[v.pk], "target": mount_target(v)} for v in readable]
    context = {
        "images": actions.runnable_images(user), "domains": actions.usable_domains(user), "volumes": volumes,
        "jobs": ComputeJob.objects.filter(owner=user).select_related("image", "domain")[:100], "form": request.POST,
        "sessions": ComputeSession.objects.filter(owner=user).select_related("image", "domain")[:20],
        "lab_images": actions.runnable_images(user).filter(jupyterlab=True),
    }
    return render(request, "compute/index.html", context)


@login_required
def job_page(request: HttpRequest, job_id: str) -> HttpResponse:
    job = actions.access_job(_user(request), job_id)
    outputs = [
        {**o, "url": reverse("files:download", args=[o["volume"]]) + "?" + urlencode({"path": o["path"]})} for o in job.outputs
    ]
    names = {v.pk: mount_target(v) for v in Volume.objects.filter(pk__in=[m["volume"] for m in job.mounts]).select_related("root", "owner")}
    mounts = [{"target": names.get(m["volume"], "(deleted volume)"), "write": m["write"]} for m in job.mounts]
    return render(request, "compute/job.html", {"job": job, "outputs": outputs, "active": not job.is_final, "mounts": mounts,
                                                "workdir": actions.workdir_in_container(job) if job.workdir_volume else CONTAINER_TMP})


@login_required
@require_POST
def abort(request: HttpRequest, job_id: str) -> HttpResponse:
    user = _user(request)
    job = actions.do_abort_job(user, actions.access_job(user, job_id))
    messages.success(request, f"The job is {job.phase}.")
    return redirect("compute:job", job.pk)


@login_required
@require_POST
def delete(request: HttpRequest, job_id: str) -> HttpResponse:
    user = _user(request)
    actions.do_delete_job(user, actions.access_job(user, job_id))
    messages.success(request, "The job is deleted.")
    return redirect("compute:index")


# --- JSON API ------------------------------------------------------------------
def job_json(job: ComputeJob) -> dict[str, Any]:
    return {
        "id": str(job.id), "run_id": job.run_id, "phase": job.phase, "image": job.image.name, "domain": job.domain.name,
        "kind": job.kind, "command": job.command, "notebook": job.notebook, "mounts": job.mounts,
        "workdir": {"volume": job.workdir_volume_id, "path": job.workdir_path}, "network": job.network,
        "created": job.created, "start_time": job.start_time, "end_time": job.end_time, "exit_code": job.exit_code,
        "stdout": job.stdout, "stderr": job.stderr, "error": job.error, "outputs": job.outputs,
    }


def _refusal(exc: Exception) -> Response:
    if isinstance(exc, actions.TooManyJobs):
        return Response({"detail": exc.messages[0]}, status=status.HTTP_429_TOO_MANY_REQUESTS)
    if isinstance(exc, ValidationError):
        return Response({"detail": exc.messages[0]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, PermissionDenied):
        return Response({"detail": str(exc) or "You may not do this."}, status=status.HTTP_403_FORBIDDEN)
    return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)


@api_view(["GET", "POST"])
def api_jobs(request: Request) -> Response:
    user = _user(request)
    if request.method == "POST":
        try:
            data = request.data if isinstance(request.data, dict) else {}
            job = actions.do_create_job(user, spec_from_json(user, data))
        except (ValidationError, PermissionDenied, PathError) as exc:
            return _refusal(exc)
        job.refresh_from_db()
        return Response(job_json(job), status=status.HTTP_201_CREATED)
    jobs = ComputeJob.objects.filter(owner=user).select_related("image", "domain")[:200]
    return Response([job_json(j) for j in jobs])


@api_view(["GET", "DELETE"])
def api_job(request: Request, job_id: str) -> Response:
    user = _user(request)
    job = actions.access_job(user, job_id)
    if request.method == "DELETE":
        actions.do_delete_job(user, job)
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(job_json(job))


@api_view(["POST"])
def api_abort(request: Request, job_id: str) -> Response:
    user = _user(request)
    job = actions.do_abort_job(user, actions.access_job(user, job_id))
    return Response(job_json(job))


@api_view(["GET"])
def api_images(request: Request) -> Response:
    images = actions.runnable_images(request.user)
    return Response([{"id": i.pk, "name": i.name, "description": i.description, "notebooks": i.notebooks} for i in images])


@api_view(["GET"])
def api_domains(request: Request) -> Response:
    return Response([
        {"id": d.pk, "name": d.name, "description": d.description, "cpus": d.cpus, "memory_mb": d.memory_mb,
         "max_runtime_s": d.max_runtime_s, "max_jobs": d.max_jobs, "network": bool(d.network),
         "queued": d.jobs.filter(phase=phases.QUEUED).count()}
        for d in actions.usable_domains(request.user)
    ])


# --- notebook sessions -----------------------------------------------------------
def _session_mounts(request: HttpRequest) -> list[dict[str, object]]:
    return [{"volume": key.removeprefix("mount_"), "write": value == "rw"}
            for key, value in request.POST.items() if key.startswith("mount_") and value in ("ro", "rw")]


def _start_session(user: User, data: dict[str, Any]) -> ComputeSession:
    image, domain = find_image(user, data.get("image")), find_domain(user, data.get("domain"))
    mounts = data.get("mounts") or []
    if not isinstance(mounts, list) or not all(isinstance(m, dict) and "volume" in m for m in mounts):
        raise ValidationError('mounts is a list of {"volume": id, "write": bool}.')
    for item in mounts:
        if not str(item["volume"]).isdigit():
            raise ValidationError(f"No volume {item['volume']!r}.")
    return sessions.do_start_session(user, image, domain, [{"volume": int(m["volume"]), "write": bool(m.get("write"))} for m in mounts])


@login_required
@require_POST
def start_session(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    try:
        session = _start_session(user, {"image": request.POST.get("image"), "domain": request.POST.get("domain"),
                                        "mounts": _session_mounts(request)})
    except (ValidationError, PermissionDenied, Http404) as exc:
        messages.error(request, exc.messages[0] if isinstance(exc, ValidationError) else str(exc) or "You may not do this.")
        return redirect("compute:index")
    return redirect("compute:session", session.pk)


@login_required
def session_page(request: HttpRequest, session_id: str) -> HttpResponse:
    session = sessions.refresh(sessions.access_session(_user(request), session_id))
    return render(request, "compute/session.html", {"session": session, "volumes": sessions.session_volumes(session),
                                                    "starting": session.state == ComputeSession.STARTING})


@login_required
@require_POST
def stop_session(request: HttpRequest, session_id: str) -> HttpResponse:
    session = sessions.do_stop_session(sessions.access_session(_user(request), session_id), "stopped by its owner")
    messages.success(request, f"The session is {session.state}.")
    return redirect("compute:index")


def session_json(session: ComputeSession) -> dict[str, Any]:
    return {
        "id": str(session.id), "state": session.state, "shown_state": session.shown_state, "image": session.image.name, "domain": session.domain.name,
        "mounts": session.mounts, "url": session.base_url + "lab", "created": session.created, "ready_time": session.ready_time,
        "last_activity": session.last_activity, "end_time": session.end_time, "error": session.error, "stop_reason": session.stop_reason,
    }


@api_view(["GET", "POST"])
def api_sessions(request: Request) -> Response:
    user = _user(request)
    if request.method == "POST":
        try:
            session = _start_session(user, request.data if isinstance(request.data, dict) else {})
        except sessions.TooManySessions as exc:
            return Response({"detail": exc.messages[0]}, status=status.HTTP_429_TOO_MANY_REQUESTS)
        except Http404 as exc:
            return Response({"detail": str(exc) or "Not found."}, status=status.HTTP_404_NOT_FOUND)
        except (ValidationError, PermissionDenied) as exc:
            return _refusal(exc)
        session.refresh_from_db()
        return Response(session_json(session), status=status.HTTP_201_CREATED)
    live = ComputeSession.objects.filter(owner=user).select_related("image", "domain")[:100]
    return Response([session_json(s) for s in live])


@api_view(["GET", "DELETE"])
def api_session(request: Request, session_id: str) -> Response:
    session = sessions.access_session(_user(request), session_id)
    if request.method == "DELETE":
        session = sessions.do_stop_session(session, "stopped by its owner")
    else:
        session = sessions.refresh(session)
    return Response(session_json(session))
