"""Compute jobs as a UWS 1.1 service, with the handlers and documents of apps/uws.

/compute/uws              GET: the user's job list; POST: a new job (PHASE=RUN starts it)
/compute/uws/<id>[/<sub>] the job and its sub-resources (phase, parameters, results, error, …)
Parameters: IMAGE, DOMAIN, KIND, COMMAND, NOTEBOOK, MOUNT, WORKDIR, NETWORK, RUNID.
Results: stdout, stderr, and each output file (its download URL).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.urls import reverse
from rest_framework.decorators import api_view
from rest_framework.request import Request

from apps.files.paths import PathError
from apps.uws import phases
from apps.uws.documents import ErrorSummary, JobRef, JobSummary, Result, job_list_document
from apps.uws.handlers import Reply, UwsError, dispatch
from apps.uws.handlers import Request as UwsRequest
from apps.uws.parameters import PHASE

from . import actions
from .models import ComputeJob
from .specs import spec_as_params, spec_from_params

POLL_S = 0.3


class ComputeJobStore:
    def __init__(self, request: Request) -> None:
        self.request = request
        assert isinstance(request.user, User)
        self.user: User = request.user

    def _url(self, path: str) -> str:
        return self.request.build_absolute_uri(path)

    def summary(self, job: ComputeJob) -> JobSummary:
        results = []
        if job.is_final:
            for name in ("stdout", "stderr"):
                results.append(Result(name, self._url(reverse("compute:uws_log", args=[job.pk, name])), "text/plain"))
            for index, output in enumerate(job.outputs, 1):
                href = self._url(reverse("files:download", args=[output["volume"]]) + "?path=" + quote(str(output["path"])))
                results.append(Result(f"output-{index}", href, None, int(output.get("size") or 0)))
        error = ErrorSummary(job.error) if job.phase == phases.ERROR and job.error else None
        return JobSummary(
            job_id=str(job.pk), phase=job.phase, owner_id=job.owner.username, creation_time=job.created, run_id=job.run_id,
            start_time=job.start_time, end_time=job.end_time, execution_duration=job.domain.max_runtime_s,
            parameters=spec_as_params(job), results=tuple(results), error=error,
        )

    def job_url(self, job: ComputeJob) -> str:
        return self._url(reverse("compute:uws_job", args=[job.pk]))

    def list_url(self) -> str:
        return self._url(reverse("compute:uws"))

    def run(self, job: ComputeJob) -> None:
        actions.do_run_job(self.user, job)

    def abort(self, job: ComputeJob) -> None:
        actions.do_abort_job(self.user, job)

    def delete(self, job: ComputeJob) -> None:
        actions.do_delete_job(self.user, job)

    def set_execution_duration(self, job: ComputeJob, seconds: int) -> None:
        raise UwsError(f"The run time limit is the compute domain's: {job.domain.max_runtime_s} s.", 403)

    def set_destruction(self, job: ComputeJob, when: dt.datetime) -> None:
        return None  # jobs are kept until their owner deletes them

    def set_parameters(self, job: ComputeJob, parameters: Mapping[str, str]) -> None:
        merged = {**spec_as_params(job), **parameters}
        actions.do_update_job(self.user, job, spec_from_params(self.user, merged))

    def wait(self, job: ComputeJob, timeout_s: float, while_phase: str | None) -> ComputeJob:
        start_phase = job.phase
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(POLL_S)
            job.refresh_from_db()
            if job.phase != (while_phase or start_phase):
                break
        return job

    def error_body(self, job: ComputeJob) -> tuple[bytes, str]:
        return (job.error or "").encode("utf-8"), "text/plain; charset=utf-8"


def _http(reply: Reply) -> HttpResponse:
    response = HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)
    if reply.location:
        response["Location"] = reply.location
    return response


def _params(request: Request) -> dict[str, str]:
    params: dict[str, str] = {str(k).lower(): str(v) for k, v in request.query_params.items()}
    if request.method == "POST":
        data: Any = request.data
        params.update({str(k).lower(): str(data[k]) for k in data})
    return params


def _error(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


@api_view(["GET", "POST"])
def job_list(request: Request) -> HttpResponse:
    store = ComputeJobStore(request)
    if request.method == "POST":
        params = _params(request)
        try:
            # One atomic action: a job refused at PHASE=RUN is not left behind.
            job = actions.do_create_job(store.user, spec_from_params(store.user, params), start=PHASE.read(params) == phases.RUN)
        except actions.TooManyJobs as exc:
            return _error(exc.messages[0], 429)
        except (ValidationError, PathError) as exc:
            return _error(exc.messages[0] if isinstance(exc, ValidationError) else str(exc), 400)
        except PermissionDenied as exc:
            return _error(str(exc), 403)
        return _http(Reply(status=303, location=store.job_url(job)))
    jobs = ComputeJob.objects.filter(owner=store.user)
    wanted = [p.upper() for p in request.query_params.getlist("PHASE")]
    if wanted:
        jobs = jobs.filter(phase__in=wanted)
    refs = [JobRef(str(j.pk), store.job_url(j), j.phase, j.run_id, store.user.username, j.created) for j in jobs[:1000]]
    return HttpResponse(job_list_document(refs), content_type="application/xml; charset=utf-8")


@api_view(["GET", "POST", "DELETE"])
def job_resource(request: Request, job_id: str, resource: str = "") -> HttpResponse:
    store = ComputeJobStore(request)
    job = actions.access_job(store.user, job_id)
    try:
        return _http(dispatch(resource, UwsRequest(request.method or "GET", _params(request), job, store)))
    except UwsError as exc:
        return _error(str(exc), exc.status)
    except actions.TooManyJobs as exc:
        return _error(exc.messages[0], 429)
    except (ValidationError, PathError) as exc:
        return _error(exc.messages[0] if isinstance(exc, ValidationError) else str(exc), 400)


@api_view(["GET"])
def job_log(request: Request, job_id: str, stream: str) -> HttpResponse:
    assert isinstance(request.user, User)
    job = actions.access_job(request.user, job_id)
    return HttpResponse(job.stdout if stream == "stdout" else job.stderr, content_type="text/plain; charset=utf-8")
