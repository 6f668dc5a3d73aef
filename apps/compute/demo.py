"""Demo compute: a local Docker domain and the two locally built images (scripts/services.d/30-docker)."""

from __future__ import annotations

from typing import Any

from apps.access.actions import builtin_group, do_grant
from apps.access.models import Group

from .actions import do_register_domain, do_register_image
from .models import ComputeDomain, ComputeImage

IMAGES = [
    ("python", "daiquiri/python:latest", True, "Debian bookworm, Python 3, Jupyter nbconvert and the portal's client library."),
    ("busybox", "daiquiri/busybox:latest", False, "A tiny shell for quick commands."),
]


def load_demo(stdout: Any, size: str) -> None:
    if not ComputeDomain.objects.filter(name="local").exists():
        do_register_domain("local", public=True, description="This machine's Docker engine.", cpus=1.0, memory_mb=1024, max_runtime_s=3600, max_jobs=2)
    for name, reference, notebooks, description in IMAGES:
        if not ComputeImage.objects.filter(name=name).exists():
            image = do_register_image(name, reference, description, notebooks)
            do_grant(None, image.resource, "run", group=builtin_group(Group.KIND_PUBLIC))
    stdout.write("Demo compute: domain 'local', images python and busybox (run: every registered user).")
