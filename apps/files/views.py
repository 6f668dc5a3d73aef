"""The file manager pages. Uploads go through the JSON API (static/js/files.js)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.access.permissions import can_grant
from apps.query.models import QueryJob
from apps.query.permissions import access_job

from . import actions
from .downloads import file_response
from .models import RootVolume
from .paths import PathError, existing_path, shown
from .previews import make_preview, preview_kind


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _browse_url(volume_id: int, path: str) -> str:
    url = reverse("files:browse", args=[volume_id])
    return f"{url}?{urlencode({'path': path})}" if path else url


def _human(size: int | None) -> str:
    if size is None:
        return "no quota"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return str(size)


@login_required
def index(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    actions.do_sync_roots()
    actions.do_ensure_default_volumes(user)
    volumes = list(actions.readable_volumes(user))
    roots = list(RootVolume.objects.exclude(kind=RootVolume.KIND_DATA))
    usage = [
        {"root": root, "used": _human(actions.usage_bytes(user.pk, root)), "quota": _human(root.quota_bytes)} for root in roots
    ]
    context = {
        "own": [v for v in volumes if v.owner_id == user.pk],
        "shared": [v for v in volumes if v.owner_id not in (None, user.pk)],
        "data": [v for v in volumes if v.owner_id is None],
        "roots": roots, "usage": usage,
    }
    return render(request, "files/index.html", context)


@login_required
@require_POST
def create_volume(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    root_id = request.POST.get("root", "")
    root = RootVolume.objects.filter(pk=int(root_id) if root_id.isascii() and root_id.isdigit() else 0).first()
    try:
        if root is None:
            raise ValidationError("Choose a root.")
        volume = actions.do_create_volume(user, root, request.POST.get("name", ""), request.POST.get("description", ""))
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect("files:index")
    messages.success(request, f"Volume {volume.name} created.")
    return redirect("files:browse", volume.pk)


@login_required
def browse(request: HttpRequest, volume_id: int) -> HttpResponse:
    user = _user(request)
    volume = actions.access_volume(user, volume_id)
    path = request.GET.get("path", "")
    try:
        parts = tuple(shown(part) for part in existing_path(path))  # as listed: odd names a job made are escaped
        entries = actions.volume_fs(volume).listdir(path)
    except PathError as exc:
        messages.error(request, str(exc))
        return redirect("files:browse", volume.pk) if path else redirect("files:index")
    path = "/".join(parts)
    crumbs = [{"name": part, "url": _browse_url(volume.pk, "/".join(parts[: i + 1]))} for i, part in enumerate(parts)]
    rows = [
        {
            "entry": e, "path": f"{path}/{e.name}" if path else e.name, "size": _human(e.size),
            "previewable": not e.is_dir and preview_kind(e.name) is not None,
            "modified": dt.datetime.fromtimestamp(e.modified, tz=dt.UTC),
        }
        for e in entries
    ]
    held = actions.volume_actions(user, volume)
    context = {
        "volume": volume, "path": path, "crumbs": crumbs, "rows": rows, "can_write": "write" in held,
        "can_share": can_grant(user, volume.resource), "root_url": _browse_url(volume.pk, ""),
        "parent_url": _browse_url(volume.pk, "/".join(parts[:-1])) if parts else None,
        "room": _human(actions.room_left(volume)) if "write" in held else None,
    }
    return render(request, "files/browse.html", context)


@login_required
@require_POST
def operate(request: HttpRequest, volume_id: int) -> HttpResponse:
    """New folder, rename/move and delete from the browse page's forms."""
    user = _user(request)
    volume = actions.access_volume(user, volume_id, "write")
    here = request.POST.get("here", "")
    op = request.POST.get("op")
    try:
        if op == "mkdir":
            name = request.POST.get("name", "")
            actions.do_make_folder(user, volume, f"{here}/{name}" if here else name)
        elif op == "move":
            actions.do_move_file(user, volume, request.POST.get("path", ""), request.POST.get("to", ""))
        elif op == "delete":
            actions.do_delete_file(user, volume, request.POST.get("path", ""))
        else:
            raise PathError("Unknown operation.")
    except (PathError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Done.")
    return redirect(_browse_url(volume.pk, here))


@login_required
@require_POST
def delete_volume(request: HttpRequest, volume_id: int) -> HttpResponse:
    user = _user(request)
    volume = actions.access_volume(user, volume_id)
    try:
        actions.do_delete_volume(user, volume)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect("files:browse", volume.pk)
    messages.success(request, f"Volume {volume.name} deleted.")
    return redirect("files:index")


@login_required
def download(request: HttpRequest, volume_id: int) -> HttpResponse | StreamingHttpResponse:
    volume = actions.access_volume(_user(request), volume_id)
    path = request.GET.get("path", "")
    fs = actions.volume_fs(volume)
    try:
        size = fs.stat(path).st_size
        fileobj = fs.open_read(path)
    except PathError as exc:
        return HttpResponse(str(exc), status=404, content_type="text/plain")
    return file_response(request, fileobj, size, path.rsplit("/", 1)[-1], request.headers.get("Range", ""), inline=request.GET.get("inline") == "1")


@login_required
def save_result(request: HttpRequest, job_id: str) -> HttpResponse:
    """Save a query result into a volume: choose the volume, path and format (linked from query job pages)."""
    user = _user(request)
    job: QueryJob = access_job(user, job_id)
    volumes = list(actions.writable_volumes(user))
    if request.method == "POST":
        volume = actions.access_volume(user, int(request.POST.get("volume") or 0), "write")
        try:
            path = actions.do_save_result_to_volume(user, job, volume, request.POST.get("path", ""), request.POST.get("format", "votable"))
        except (PathError, ValidationError, PermissionDenied) as exc:
            messages.error(request, exc.messages[0] if isinstance(exc, ValidationError) else str(exc))
        except Exception as exc:  # the query app refuses results it no longer has
            messages.error(request, f"The result could not be saved: {exc}")
        else:
            messages.success(request, f"Saved as {path} in {volume.name}.")
            folder = path.rsplit("/", 1)[0] if "/" in path else ""
            return redirect(_browse_url(volume.pk, folder))
    context = {"job": job, "volumes": volumes, "formats": actions.result_formats()}
    return render(request, "files/save_result.html", context)


@login_required
def preview(request: HttpRequest, volume_id: int) -> HttpResponse:
    volume = actions.access_volume(_user(request), volume_id)
    path = request.GET.get("path", "")
    try:
        data = make_preview(path, actions.volume_fs(volume).open_read(path))
    except PathError as exc:
        messages.error(request, str(exc))
        return redirect("files:browse", volume.pk)
    folder = path.rsplit("/", 1)[0] if "/" in path else ""
    download_url = reverse("files:download", args=[volume.pk]) + "?" + urlencode({"path": path})
    context = {"volume": volume, "path": path, "preview": data, "back_url": _browse_url(volume.pk, folder), "download_url": download_url}
    return render(request, "files/preview.html", context)
