"""Uploaded tables live as long as their job: when a job goes (DELETE, or the destruction reaper), so do they."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.query.models import QueryJob
from apps.query.uploads import Upload

from .uploads import discard_uploads


def remove_job_uploads(sender: type[QueryJob], instance: QueryJob, **kwargs: Any) -> None:
    uploads = [Upload.from_json(u) for u in instance.uploads or []]
    if uploads:
        transaction.on_commit(lambda: discard_uploads(uploads))
