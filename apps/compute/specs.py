"""Turning what a page, the JSON API or a UWS client sent into a JobSpec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import Http404

from apps.files.actions import access_volume
from apps.files.models import Volume

from .actions import JobSpec, access_image, usable_domains
from .models import ComputeDomain, ComputeImage, ComputeJob

TRUE = {"1", "true", "yes", "on"}


def find_image(user: User, value: object) -> ComputeImage:
    text = str(value or "").strip()
    image = ComputeImage.objects.filter(name=text, enabled=True).first()
    if image is None and text.isdigit():
        image = ComputeImage.objects.filter(pk=int(text), enabled=True).first()
    if image is None:
        raise ValidationError(f"No image {text!r}.")
    try:
        return access_image(user, image.pk)
    except Http404:
        raise ValidationError(f"No image {text!r}.") from None


def find_domain(user: User, value: object) -> ComputeDomain:
    """A domain the user may run jobs in (the "run" privilege of its resource), by name or id."""
    text = str(value or "").strip()
    domains = usable_domains(user)
    if not text:
        domain = domains.first()
    else:
        domain = domains.filter(name=text).first() or (domains.filter(pk=int(text)).first() if text.isdigit() else None)
    if domain is None:
        raise ValidationError("No such compute domain." if text else "No compute domain is set up.")
    return domain


def _volume(user: User, value: object) -> Volume:
    try:
        return access_volume(user, int(str(value)))
    except (ValueError, Http404):
        raise ValidationError(f"No volume {value!r}.") from None


def spec_from_json(user: User, data: Mapping[str, Any]) -> JobSpec:
    """{"image", "domain"?, "kind"?, "command" | "notebook", "mounts": [{"volume", "write"}],
    "workdir": {"volume", "path"}, "network"?, "run_id"?}"""
    workdir = data.get("workdir") or {}
    mounts = data.get("mounts") or []
    if not isinstance(mounts, list) or not isinstance(workdir, dict):
        raise ValidationError("mounts is a list and workdir an object.")
    if len(mounts) > settings.COMPUTE_MAX_MOUNTS:  # before any lookup: each mount costs queries
        raise ValidationError(f"A job mounts at most {settings.COMPUTE_MAX_MOUNTS} volumes.")
    for item in mounts:
        if not isinstance(item, dict) or "volume" not in item:
            raise ValidationError('Each mount is {"volume": id, "write": bool}.')
        _volume(user, item["volume"])
    kind = str(data.get("kind") or (ComputeJob.KIND_NOTEBOOK if data.get("notebook") else ComputeJob.KIND_COMMAND))
    return JobSpec(
        image=find_image(user, data.get("image")), domain=find_domain(user, data.get("domain")), kind=kind,
        command=str(data.get("command") or ""), notebook=str(data.get("notebook") or ""),
        mounts=[{"volume": int(str(m["volume"])), "write": bool(m.get("write"))} for m in mounts],
        workdir_volume=_volume(user, workdir["volume"]) if workdir.get("volume") not in (None, "") else None,
        workdir_path=str(workdir.get("path") or ""), network=str(data.get("network", "")).lower() in TRUE,
        run_id=str(data.get("run_id") or data.get("runid") or ""),
    )


def spec_from_params(user: User, params: Mapping[str, str]) -> JobSpec:
    """UWS parameters (lower-cased names): IMAGE, DOMAIN, KIND, COMMAND, NOTEBOOK,
    MOUNT ("12,15:rw"), WORKDIR ("12:analysis/run1"), NETWORK, RUNID."""
    mounts = []
    for item in (params.get("mount") or "").split(","):
        if item.strip():
            volume, _, mode = item.strip().partition(":")
            mounts.append({"volume": volume, "write": mode.lower() == "rw"})
    volume, _, path = (params.get("workdir") or "").partition(":")
    data = {**params, "mounts": mounts, "workdir": {"volume": volume, "path": path}, "run_id": params.get("runid", "")}
    return spec_from_json(user, data)


def spec_as_params(job: ComputeJob) -> dict[str, str]:
    params = {"image": job.image.name, "domain": job.domain.name, "kind": job.kind}
    if job.command:
        params["command"] = job.command
    if job.notebook:
        params["notebook"] = job.notebook
    if job.mounts:
        params["mount"] = ",".join(f"{m['volume']}:{'rw' if m['write'] else 'ro'}" for m in job.mounts)
    if job.workdir_volume_id:
        params["workdir"] = f"{job.workdir_volume_id}:{job.workdir_path}"
    params["network"] = "true" if job.network else "false"
    return params
