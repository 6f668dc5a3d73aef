"""Publishing a MyDB table: the owner asks with a description and citation, a data manager approves in the
admin, and the table is published, citable, public and in TAP_SCHEMA with its units and UCDs."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.query import actions
from apps.query.models import PublicationRequest
from apps.query.planning import QueryError
from apps.uws import phases
from tests.conftest import make_user
from tests.query.test_workbench_import import _fits_bytes

pytestmark = pytest.mark.django_db


def _rows(user: Any, query: str) -> list[Any]:
    result = actions.run_sync(user, query=query)
    return [row for batch in result.batches for row in zip(*(c.to_pylist() for c in batch.columns), strict=True)]


def test_a_result_is_published_through_the_approval_flow_and_found_in_tap_schema(users: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = actions.do_import_table(users.owner, table_name="mine", data=_fits_bytes(), filename="cat.fits")
    job.refresh_from_db()
    assert job.phase == phases.COMPLETED, job.error
    owner = Client()
    owner.force_login(users.owner)
    form = {"table_name": "bright_stars", "title": "Bright stars", "description": "Three stars.", "citation": "Owner et al. 2026"}
    assert owner.post(f"/query/jobs/{job.id}/publish", form).status_code == 302
    request = PublicationRequest.objects.get(job=job)
    assert request.status == PublicationRequest.PENDING
    assert "waiting for a data manager" in owner.get(f"/query/jobs/{job.id}/").content.decode()

    manager = make_user("curator", is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(manager)
    assert "Bright stars" in admin.get("/admin/query/publicationrequest/").content.decode()
    admin.post("/admin/query/publicationrequest/", {"action": "approve", "_selected_action": [request.pk]})
    request.refresh_from_db()
    assert request.status == PublicationRequest.APPROVED, admin.get("/admin/query/publicationrequest/").content.decode()[-3000:]
    table = request.published_table
    assert table is not None and table.published and table.citation == "Owner et al. 2026"

    anonymous = users.anonymous
    names = [r[0] for r in _rows(anonymous, "SELECT table_name FROM tap_schema.tables")]
    assert "community.bright_stars" in names
    ucds = dict(_rows(anonymous, "SELECT column_name, ucd FROM tap_schema.columns WHERE table_name = 'community.bright_stars'"))
    assert ucds["ra"] == "pos.eq.ra;meta.main"
    assert _rows(anonymous, "SELECT COUNT(*) FROM community.bright_stars") == [(3,)]
    assert "approved and published" in owner.get(f"/query/jobs/{job.id}/").content.decode()


def test_only_the_owner_may_ask_and_only_staff_may_approve(users: Any, run_job: Any, stars: Any) -> None:
    job = run_job(users.owner, "SELECT TOP 3 * FROM TAP_UPLOAD.stars", uploads=[stars], table_name="t")
    outsider = Client()
    outsider.force_login(users.outsider)
    form = {"table_name": "t", "title": "T", "description": "D", "citation": "C"}
    assert outsider.post(f"/query/jobs/{job.id}/publish", form).status_code == 404
    with pytest.raises(QueryError, match="citation"):
        actions.do_request_publication(users.owner, job, table_name="t", title="T", description="D", citation="")
    request = actions.do_request_publication(users.owner, job, table_name="t", title="T", description="D", citation="C")
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        actions.do_decide_publication(users.member, request, approve=True)
    request.refresh_from_db()
    assert request.status == PublicationRequest.PENDING
