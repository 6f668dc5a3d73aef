"""The JSON API of the file manager (token or session auth): the same actions as the pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from apps.access.forms import find_user
from apps.access.models import Group
from apps.query.permissions import access_job

from . import actions
from .downloads import file_response
from .models import RootVolume, Volume
from .paths import PathError, QuotaExceeded, UploadInterrupted
from .previews import make_preview

UPLOAD_CHUNK = 1024 * 1024


def volume_json(user: Any, volume: Volume, with_usage: bool = False, held: set[str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": volume.pk, "name": volume.name, "root": volume.root.name, "kind": volume.root.kind,
        "owner": volume.owner.username if volume.owner else None, "description": volume.description,
        "is_default": volume.is_default, "resource": volume.resource_id,
        "actions": sorted(actions.volume_actions(user, volume) if held is None else held),
    }
    if with_usage and volume.owner_id is not None:
        data["used_bytes"] = actions.usage_bytes(volume.owner_id, volume.root)
        data["quota_bytes"] = volume.root.quota_bytes
    return data


def _errors(view: Callable[..., Response | HttpResponse | StreamingHttpResponse]) -> Callable[..., Response | HttpResponse | StreamingHttpResponse]:
    """Refusals of the actions as JSON with the right status."""

    @wraps(view)
    def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response | HttpResponse | StreamingHttpResponse:
        try:
            return view(request, *args, **kwargs)
        except QuotaExceeded as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        except (PathError, ValidationError) as exc:
            text = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
            return Response({"detail": text}, status=status.HTTP_400_BAD_REQUEST)
        except PermissionDenied as exc:
            return Response({"detail": str(exc) or "You may not do this."}, status=status.HTTP_403_FORBIDDEN)

    return wrapper


def _data(request: Request) -> dict[str, Any]:
    return request.data if isinstance(request.data, dict) else {}


def _path(request: Request, key: str = "path") -> str:
    value = request.query_params.get(key)
    if value is None:
        value = _data(request).get(key)
    if value is None:
        raise PathError(f"Give {key}=.")
    return str(value)


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


@api_view(["GET", "POST"])
@_errors
def volumes(request: Request) -> Response:
    user = _user(request)
    if request.method == "POST":
        data = _data(request)
        root = RootVolume.objects.filter(name=data.get("root", "")).first()
        if root is None:
            raise ValidationError("Choose an existing root.")
        volume = actions.do_create_volume(user, root, str(data.get("name", "")), str(data.get("description", "")))
        return Response(volume_json(user, volume), status=status.HTTP_201_CREATED)
    actions.do_sync_roots()
    actions.do_ensure_default_volumes(user)
    volumes = list(actions.readable_volumes(user))
    held = actions.actions_by_volume(user, volumes)
    return Response([volume_json(user, v, held=held[v.pk]) for v in volumes])


@api_view(["GET", "DELETE"])
@_errors
def volume(request: Request, volume_id: int) -> Response:
    user = _user(request)
    vol = actions.access_volume(user, volume_id)
    if request.method == "DELETE":
        actions.do_delete_volume(user, vol)
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(volume_json(user, vol, with_usage=True))


@api_view(["GET"])
@_errors
def listing(request: Request, volume_id: int) -> Response:
    vol = actions.access_volume(request.user, volume_id)
    path = request.query_params.get("path", "")
    entries = actions.volume_fs(vol).listdir(path)
    return Response({"path": path, "entries": [{"name": e.name, "is_dir": e.is_dir, "size": e.size, "modified": e.modified} for e in entries]})


@api_view(["GET"])
@_errors
def download(request: Request, volume_id: int) -> HttpResponse | StreamingHttpResponse:
    vol = actions.access_volume(request.user, volume_id)
    path = _path(request)
    fs = actions.volume_fs(vol)
    fileobj = fs.open_read(path)
    size = fs.stat(path).st_size
    return file_response(request, fileobj, size, path.rsplit("/", 1)[-1], request.headers.get("Range", ""), inline=request.query_params.get("inline") == "1")


def request_chunks(request: HttpRequest, size: int | None) -> Iterator[bytes]:
    """The request body, read as it arrives; a broken stream is an interrupted upload."""
    remaining = size
    while remaining is None or remaining > 0:
        try:
            chunk = request.read(UPLOAD_CHUNK if remaining is None else min(UPLOAD_CHUNK, remaining))
        except Exception as exc:  # the client went away, whatever the server stack calls it
            raise UploadInterrupted(f"The upload was interrupted: {exc}") from exc
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META["CONTENT_LENGTH"])
    except (KeyError, ValueError):
        return None


@api_view(["PUT"])
@_errors
def upload(request: Request, volume_id: int) -> Response:
    """PUT the raw bytes: ``/upload/?path=folder/name.fits``; replaces an existing file."""
    vol = actions.access_volume(request.user, volume_id, "write")
    path = _path(request)
    size = content_length(request._request)
    written = actions.do_upload_file(request.user, vol, path, request_chunks(request._request, size), size)
    return Response({"path": path, "size": written}, status=status.HTTP_201_CREATED)


@api_view(["POST"])
@_errors
def mkdir(request: Request, volume_id: int) -> Response:
    vol = actions.access_volume(request.user, volume_id, "write")
    actions.do_make_folder(request.user, vol, _path(request))
    return Response({"path": _path(request)}, status=status.HTTP_201_CREATED)


@api_view(["POST"])
@_errors
def move(request: Request, volume_id: int) -> Response:
    vol = actions.access_volume(request.user, volume_id, "write")
    actions.do_move_file(request.user, vol, _path(request), _path(request, "to"))
    return Response({"path": _path(request, "to")})


@api_view(["POST", "DELETE"])
@_errors
def delete(request: Request, volume_id: int) -> Response:
    vol = actions.access_volume(request.user, volume_id, "write")
    actions.do_delete_file(request.user, vol, _path(request))
    return Response(status=status.HTTP_204_NO_CONTENT)


@api_view(["GET"])
@_errors
def preview(request: Request, volume_id: int) -> Response:
    vol = actions.access_volume(request.user, volume_id)
    path = _path(request)
    return Response({"path": path, **make_preview(path, actions.volume_fs(vol).open_read(path))})


@api_view(["POST"])
@_errors
def save_result(request: Request, volume_id: int) -> Response:
    """{"job": query job id, "path": "results/" or a file name, "format": "csv" | "votable" | "fits" | "parquet" | …}"""
    user = _user(request)
    vol = actions.access_volume(user, volume_id, "write")
    data = _data(request)
    job = access_job(user, str(data.get("job", "")))
    path = actions.do_save_result_to_volume(user, job, vol, str(data.get("path", "")), str(data.get("format", "votable")))
    return Response({"path": path, "size": actions.volume_fs(vol).stat(path).st_size}, status=status.HTTP_201_CREATED)


@api_view(["POST"])
@_errors
def share(request: Request, volume_id: int) -> Response:
    """{"action": "read"|"write", "user": name} or {..., "group": name}: the permission API's do_grant."""
    user = _user(request)
    vol = actions.access_volume(user, volume_id)
    data = _data(request)
    to_user = find_user(str(data["user"])) if data.get("user") else None
    group = Group.objects.filter(name=data["group"], kind=Group.KIND_USER).first() if data.get("group") else None
    if to_user is None and group is None:
        raise ValidationError("Name an existing user or group.")
    actions.do_share_volume(user, vol, str(data.get("action", "read")), to_user=to_user, group=group)
    return Response(volume_json(user, vol))
