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

from apps.accounts.models import hash_token
from apps.accounts.scoped import ScopedGrant
from apps.uws import phases

from .models import ComputeJob, ComputeSession

PREFIX = "djob_"
JOB_TOKEN_PATHS = ("/tap/", "/tap", "/files/api/")


def new_job_key(job: ComputeJob) -> str:
    """A fresh key for a claimed job; the job keeps its hash."""
    key = PREFIX + secrets.token_urlsafe(32)
    ComputeJob.objects.filter(pk=job.pk).update(token_hash=hash_token(key))
    return key


def end_job_key(job_id: uuid.UUID | str) -> None:
    ComputeJob.objects.filter(pk=job_id).exclude(token_hash="").update(token_hash="")


def resolve(key: str) -> ScopedGrant | None:
    job = ComputeJob.objects.select_related("owner").filter(token_hash=hash_token(key), phase=phases.EXECUTING).first()
    return None if job is None else ScopedGrant(job.owner, JOB_TOKEN_PATHS)


# --- notebook sessions: the same scope, for as long as the session is live ---------------
SESSION_PREFIX = "dses_"


def new_session_key(session: ComputeSession) -> str:
    key = SESSION_PREFIX + secrets.token_urlsafe(32)
    ComputeSession.objects.filter(pk=session.pk).update(token_hash=hash_token(key))
    return key


def end_session_key(session_id: uuid.UUID | str) -> None:
    ComputeSession.objects.filter(pk=session_id).exclude(token_hash="").update(token_hash="")


def resolve_session(key: str) -> ScopedGrant | None:
    live = ComputeSession.objects.select_related("owner").filter(token_hash=hash_token(key), state__in=ComputeSession.LIVE)
    session = live.first()
    return None if session is None else ScopedGrant(session.owner, JOB_TOKEN_PATHS)
