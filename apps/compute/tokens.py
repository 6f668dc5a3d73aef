"""A compute job's token: it acts for the job's owner on the TAP and file APIs, and only while the job runs
(a notebook session's key likewise, while the session is live).

The key (``djob_<secret>``) is handed to the container; only its hash is kept,
on the job. It is not an API token: it cannot reach the token pages, the
account, or anything but the paths in ``JOB_TOKEN_PATHS`` (checked by
apps.accounts.scoped for every request), and it stops working the moment the
job leaves EXECUTING, because the resolver asks for a running job. Ending the
job also clears the hash.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.db.models import QuerySet

from apps.accounts.models import hash_token
from apps.accounts.scoped import ScopedGrant
from apps.uws import phases

from .models import ComputeJob, ComputeSession

PREFIX = "djob_"
JOB_TOKEN_PATHS = ("/tap/", "/tap", "/files/api/")


def new_job_key(job: ComputeJob) -> str:
    """A fresh key for a claimed job; the job keeps its hash."""
    return _issue(ComputeJob.objects.filter(pk=job.pk), PREFIX)


def end_job_key(job_id: uuid.UUID | str) -> None:
    _revoke(ComputeJob.objects.filter(pk=job_id))


def resolve(key: str) -> ScopedGrant | None:
    return _grant(ComputeJob.objects.filter(phase=phases.EXECUTING), key)


# --- notebook sessions: the same scope, for as long as the session is live ---------------
SESSION_PREFIX = "dses_"


def new_session_key(session: ComputeSession) -> str:
    return _issue(ComputeSession.objects.filter(pk=session.pk), SESSION_PREFIX)


def end_session_key(session_id: uuid.UUID | str) -> None:
    _revoke(ComputeSession.objects.filter(pk=session_id))


def resolve_session(key: str) -> ScopedGrant | None:
    return _grant(ComputeSession.objects.filter(state__in=ComputeSession.LIVE), key)


# --- one mechanism for both: a random key handed out, only its hash kept on the row ----------
def _issue(row: QuerySet[Any], prefix: str) -> str:
    key = prefix + secrets.token_urlsafe(32)
    row.update(token_hash=hash_token(key))
    return key


def _revoke(row: QuerySet[Any]) -> None:
    row.exclude(token_hash="").update(token_hash="")


def _grant(live: QuerySet[Any], key: str) -> ScopedGrant | None:
    """The owner's scoped rights if ``key`` belongs to one of the ``live`` rows (running job, live session)."""
    holder = live.select_related("owner").filter(token_hash=hash_token(key)).first()
    return None if holder is None else ScopedGrant(holder.owner, JOB_TOKEN_PATHS)
