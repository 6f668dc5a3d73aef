"""A browser session alone never changes anything: POST/PUT/DELETE without a CSRF token are refused
everywhere, except on the TAP endpoints (VO clients send no token), which then serve the request as
anonymous. Credentials a browser attaches by itself (cached HTTP Basic) do not lift the check either."""

from __future__ import annotations

import base64

import pytest

from apps.query.models import QueryJob
from apps.uws import phases
from tests.conftest import FourUsers

from .conftest import SECRET, OwnersThings, client_for
from .test_authorization import app_patterns, url_of, values

# csrf_exempt on purpose: VO clients send no token. TAP serves such writes as anonymous (apps/tap/views.py tap_user());
# OAI-PMH and DataLink take POST as their standards say, and only read.
EXEMPT = {"tap", "registry", "datalink"}


def test_it_refuses_unsafe_methods_without_a_token_everywhere_but_tap(users: FourUsers, things: OwnersThings) -> None:
    client = client_for(users.owner, csrf=True)
    accepted: list[str] = []
    for name, route, _params in app_patterns():
        if name.split(":")[0] in EXEMPT:
            continue
        url = url_of(route, values(name, things, users))
        for method in ("post", "put", "delete", "patch"):
            response = getattr(client, method)(url)
            if response.status_code not in (403, 405):
                accepted.append(f"{method.upper()} {url} ({name}) answers {response.status_code}")
    assert not accepted, "\n".join(accepted)


def test_it_serves_tap_writes_without_a_token_as_anonymous(users: FourUsers, things: OwnersThings) -> None:
    client = client_for(users.owner, csrf=True)
    job = things.query_job
    for data in ({"PHASE": "ABORT"}, {"ACTION": "DELETE"}):
        assert client.post(f"/tap/async/{job.id}", data).status_code == 404
    assert client.post(f"/tap/async/{job.id}/phase", {"PHASE": "ABORT"}).status_code == 404
    assert client.post(f"/tap/async/{job.id}/destruction", {"DESTRUCTION": "2099-01-01T00:00:00Z"}).status_code == 404
    assert client.delete(f"/tap/async/{job.id}").status_code == 404
    job.refresh_from_db()
    assert job.phase == phases.COMPLETED
    response = client.post("/tap/async", {"LANG": "ADQL", "QUERY": "SELECT 1 AS x FROM TAP_SCHEMA.tables"})
    assert response.status_code == 303
    created = QueryJob.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[-1])
    assert created.owner_id is None
    response = client.post("/tap/sync", {"LANG": "ADQL", "QUERY": f"SELECT * FROM mydb.{SECRET}_result"})
    assert SECRET.encode() not in b"".join(response.streaming_content) if response.streaming else response.content
    # With the session's token the same request is the owner's.
    client.get("/query/")
    token = client.cookies["csrftoken"].value
    assert client.post(f"/tap/async/{job.id}/destruction", {"DESTRUCTION": "2099-01-01T00:00:00Z"},
                       HTTP_X_CSRFTOKEN=token).status_code == 303


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_it_refuses_cross_site_posts_with_cached_basic_credentials(users: FourUsers, things: OwnersThings, site: str) -> None:
    """A browser that once answered our Basic challenge sends the header with a forged form post too."""
    basic = "Basic " + base64.b64encode(b"owner:owner-password").decode()
    client = client_for(users.anonymous, csrf=True)
    headers = {"HTTP_AUTHORIZATION": basic, "HTTP_SEC_FETCH_SITE": site, "HTTP_ORIGIN": "https://evil.example"}
    response = client.post(f"/files/v/{things.volume.pk}/op", {"op": "delete", "path": f"{SECRET}.txt"}, **headers)
    assert response.status_code == 403
    assert (things.volume.directory / f"{SECRET}.txt").exists()
    response = client.post(f"/access/resources/{things.resource.pk}/share", {"action": "read", "user": "outsider"}, **headers)
    assert response.status_code == 403
    response = client.post(f"/files/api/volumes/{things.volume.pk}/delete/", {"path": f"{SECRET}.txt"}, **headers)
    assert response.status_code == 403
    assert (things.volume.directory / f"{SECRET}.txt").exists()
    response = client.post(f"/tap/async/{things.query_job.id}", {"ACTION": "DELETE"}, **headers)
    assert response.status_code == 404  # TAP: served as anonymous
    assert QueryJob.objects.filter(pk=things.query_job.pk).exists()


def test_it_still_lets_scripts_post_with_basic_credentials(users: FourUsers, things: OwnersThings) -> None:
    basic = "Basic " + base64.b64encode(b"owner:owner-password").decode()
    client = client_for(users.anonymous, csrf=True)
    response = client.post(f"/files/api/volumes/{things.volume.pk}/mkdir/", {"path": "made"}, HTTP_AUTHORIZATION=basic)
    assert response.status_code == 201
    response = client.get(f"/files/api/volumes/{things.volume.pk}/list/", HTTP_AUTHORIZATION=basic,
                          HTTP_SEC_FETCH_SITE="cross-site")
    assert response.status_code == 200  # reading is not what CSRF guards
    response = client.post(f"/tap/async/{things.query_job.id}/destruction", {"DESTRUCTION": "2099-01-01T00:00:00Z"},
                           HTTP_AUTHORIZATION=basic)
    assert response.status_code == 303
