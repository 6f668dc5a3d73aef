"""Every user input gets a clear 4xx (or is taken), never a 500.

Each URL of every app is fed long (10k characters), odd (control characters,
NUL, a lone surrogate, right-to-left marks, emoji) and duplicate values: in
every form field its page offers (one field at a time, the others as the page
filled them), in every parameter name the apps read (all at once, as a form,
as a query string and as JSON), twice in a row, and in the URL's own
parameters; as the owner of one of everything and as an anonymous visitor.
The named cases of the outside review come first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client

from apps.access.models import Group
from apps.query.models import QueryJob
from tests.conftest import FourUsers

from .conftest import OwnersThings, client_for
from .test_authorization import app_patterns, body, url_of, values

LONG = "x" * 10_000
ODD = "a\x01\x1b[31m\x7f\u202e\u200b🔭 ünïcødé \U0001d518"  # the last: a mathematical letter
NUL = "a\x00b"
VALUES = {"long": LONG, "odd": ODD, "nul": NUL, "surrogate": "\ud800", "empty": "", "dup": "dup"}
# Every parameter name the apps read (grep of request.GET/POST/data/params), TAP's upper-case ones too.
PARAMS = """MAXREC PHASE QUERY LANG REQUEST FORMAT RESPONSEFORMAT QUEUE RUNID UPLOAD EXECUTIONDURATION DESTRUCTION VERB
action affiliation after answer bins command days desc description destruction domain engine executionduration file
first_name format group here image inline job kind lang last last_name limit m maxrec mount mounts name network next
notebook offset op operation overwrite page path phase publish q query queue quota_bytes replace request rerun
responseformat revoke role root run_id runid schema server_path sort table table_name to u used_bytes user username
verb volume votable wait workdir country orcid email login password ra dec sr x y""".split()
LAST = ("delete", "drop", "revoke", "abort", "approve")  # walked last: they take the owner's things away


def encode(pairs: list[tuple[str, str]]) -> str:
    """x-www-form-urlencoded, writing a lone surrogate as the bytes a careless client would send."""
    def one(text: str) -> str:
        return quote(text.encode("utf-8", "surrogatepass"), safe="")
    return "&".join(f"{one(k)}={one(v)}" for k, v in pairs)


class Forms(HTMLParser):
    """The forms of a page: (action, method, [(field, default)])."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str, list[tuple[str, str]]]] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), a.get("method", "get").lower(), []))
        elif not self.forms or "name" not in a:
            if tag == "option" and self._select is not None and self.forms:
                self.forms[-1][2].append((self._select, a.get("value", "")))
                self._select = None
        elif tag == "input" and a.get("type") not in ("submit", "button", "file", "checkbox", "radio"):
            self.forms[-1][2].append((a["name"], a.get("value", "")))
        elif tag in ("input",) and "checked" in a:
            self.forms[-1][2].append((a["name"], a.get("value", "on")))
        elif tag == "textarea":
            self.forms[-1][2].append((a["name"], ""))
        elif tag == "select":
            self._select = a["name"]


def forms_of(html: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


class Walk:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.failures: list[str] = []
        self.requests = 0

    def send(self, method: str, url: str, data: str | None = None, content_type: str = "application/x-www-form-urlencoded") -> None:
        self.requests += 1
        what = f"{method.upper()} {url[:120]} {(data or '')[:80]!r}"
        try:
            if method == "get":
                response = self.client.get(url + ("?" + data if data else ""))
            else:
                response = self.client.generic(method.upper(), url, (data or "").encode("utf-8", "surrogatepass"), content_type)
            body(response)
        except Exception as exc:  # every escape is a 500 in production
            self.failures.append(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
            return
        if response.status_code >= 500:
            self.failures.append(f"{what}: {response.status_code}")


def values_for(name: str, route: str, things: OwnersThings, users: FourUsers) -> dict[str, Any]:
    """The owner's objects for the URL's parameters; one no fixture knows yet gets a well-formed id."""
    import re
    import uuid

    known = values(name, things, users)
    for kind, param in re.findall(r"<(?:(\w+):)?(\w+)>", route):
        known.setdefault(param, uuid.uuid4() if kind == "uuid" else 1 if kind == "int" else "x")
    return known


def urls(things: OwnersThings, users: FourUsers) -> Iterator[tuple[str, str, list[str]]]:
    found = [(name, url_of(route, values_for(name, route, things, users)), route) for name, route, _ in app_patterns()]
    found.sort(key=lambda item: any(word in item[0] for word in LAST))
    for name, url, route in found:
        yield name, url, [route]


def every_parameter(walk: Walk, url: str) -> None:
    for value in VALUES.values():
        pairs = [(k, value) for k in PARAMS]
        form = encode(pairs)
        walk.send("post", url, form)
        walk.send("get", url, form)
        walk.send("post", url, json.dumps(dict(pairs)), "application/json")
    walk.send("post", url, encode([(k, v) for k in PARAMS for v in ("one", "two")]))  # each name twice
    walk.send("post", url, json.dumps({k: ["a", {"b": None}] for k in PARAMS}), "application/json")  # wrong JSON types
    walk.send("post", url, "{not json", "application/json")


def each_form_field(walk: Walk, url: str) -> None:
    try:
        page = walk.client.get(url)
    except Exception:  # reported by every_parameter's GET already
        return
    if page.status_code != 200 or "html" not in page.get("Content-Type", "") or page.streaming:
        return
    for action, method, fields in forms_of(page.content.decode()):
        target = action or url
        if "logout" in target:  # the rest of the walk would be anonymous
            continue
        for index, (field, _default) in enumerate(fields):
            if field == "csrfmiddlewaretoken":
                continue
            for value in VALUES.values():
                pairs = [(k, value if i == index else v) for i, (k, v) in enumerate(fields)]
                walk.send(method if method in ("get", "post") else "post", target, encode(pairs))
        if fields:
            walk.send("post", target, encode(fields))  # the page's own values, twice: a duplicate
            walk.send("post", target, encode(fields))


def path_parameters(walk: Walk, route: str, params: dict[str, Any]) -> None:
    import re

    names = re.findall(r"<str:(\w+)>", route)
    for name in names:
        for value in VALUES.values():
            if not value:
                continue
            url = url_of(route, {**params, name: quote(value.encode("utf-8", "surrogatepass"), safe="")})
            walk.send("get", url)
            walk.send("post", url)


@pytest.mark.parametrize("who", ["owner", "anonymous"])
def test_no_input_anywhere_makes_a_500(who: str, users: FourUsers, things: OwnersThings) -> None:
    walk = Walk(client_for(getattr(users, who)))
    for name, url, (route,) in urls(things, users):
        each_form_field(walk, url)
        every_parameter(walk, url)
        path_parameters(walk, route, values_for(name, route, things, users))
    assert not walk.failures, f"{len(walk.failures)} of {walk.requests} requests failed:\n" + "\n".join(walk.failures[:80])


# --- the review's cases ----------------------------------------------------------------------------

def test_an_unknown_queue_is_refused_when_the_tap_job_is_created(users: FourUsers) -> None:
    before = QueryJob.objects.count()
    response = Client().post("/tap/async", {"QUERY": "SELECT 1", "LANG": "ADQL", "QUEUE": "nosuch"})
    assert response.status_code == 400
    assert b"no queue called" in response.content
    assert QueryJob.objects.count() == before


def test_anonymous_may_not_create_a_job_on_the_long_queue(users: FourUsers) -> None:
    response = Client().post("/tap/async", {"QUERY": "SELECT 1", "LANG": "ADQL", "QUEUE": "long"})
    assert response.status_code == 400
    assert b"may not use the long queue" in response.content


def test_a_pending_jobs_queue_cannot_be_changed_to_an_unknown_one(users: FourUsers) -> None:
    client = client_for(users.owner)
    created = client.post("/tap/async", {"QUERY": "SELECT 1", "LANG": "ADQL"})
    job_url = created["Location"]
    response = client.post(job_url + "/parameters", {"QUEUE": "nosuch"})
    assert 400 <= response.status_code < 500
    assert client.get(job_url).status_code == 200


def test_a_255_byte_volume_name_is_refused_with_a_reason(users: FourUsers, things: OwnersThings) -> None:
    client = client_for(users.owner)
    response = client.post("/files/new", {"name": "v" * 255, "root": things.volume.root.pk}, follow=True)
    assert response.status_code in (200, 400)
    assert b"at most 100 characters" in response.content
    response = client.post("/files/api/volumes/", json.dumps({"name": "é" * 120, "root": things.volume.root.name}),
                           content_type="application/json")
    assert response.status_code == 400 and b"at most 100 characters" in response.content


def test_a_long_user_name_still_gets_a_volume(things: OwnersThings) -> None:
    from apps.files.actions import do_create_volume
    from tests.conftest import make_user

    someone = make_user("u" * 150)
    volume = do_create_volume(someone, things.volume.root, "v" * 100)
    assert len(volume.resource.name) > 255


@pytest.mark.parametrize("name", ["Team", "public", "Anyone"])
def test_renaming_a_group_to_a_taken_name_answers_with_a_reason(users: FourUsers, name: str) -> None:
    other = Group.objects.create(name="Other", created_by=users.owner)
    from apps.access.models import Membership

    Membership.objects.create(group=other, user=users.owner, role=Membership.ROLE_ADMIN, status=Membership.STATUS_ACTIVE)
    response = client_for(users.owner).post(f"/access/groups/{other.pk}/edit", {"name": name, "description": ""}, follow=True)
    assert response.status_code == 200 and b"exists already" in response.content


def test_native_rows_from_is_a_query_error(users: FourUsers) -> None:
    from apps.adql import AdqlError
    from apps.adql.catalog import Catalog
    from apps.adql.native import translate_native

    with pytest.raises(AdqlError, match="is not a published table"):
        translate_native("SELECT * FROM ROWS FROM (generate_series(1, 3)) AS t(n)", "postgresql", catalog=Catalog([]))
    response = Client().post("/tap/sync", {"QUERY": "SELECT * FROM ROWS FROM (generate_series(1, 3)) AS t(n)",
                                            "LANG": "postgresql", "REQUEST": "doQuery"})
    assert response.status_code == 400 and b"not a published table" in response.content


def test_a_job_whose_queue_was_removed_from_the_settings_is_still_shown(users: FourUsers) -> None:
    job = QueryJob.objects.create(owner=users.owner, query="SELECT 1", queue="retired", source=QueryJob.SOURCE_TAP_ASYNC)
    client = client_for(users.owner)
    assert client.get(f"/tap/async/{job.id}").status_code == 200
    assert client.get(f"/tap/async/{job.id}/executionduration").status_code == 200
    response = client.post(f"/tap/async/{job.id}/phase", {"PHASE": "RUN"})
    assert response.status_code < 500
    job.refresh_from_db()
    assert job.phase == "ERROR" and "retired" in job.error


def test_a_queue_and_a_duration_changed_together_are_checked(users: FourUsers) -> None:
    client = client_for(users.owner)
    job_url = client.post("/tap/async", {"QUERY": "SELECT 1", "LANG": "ADQL"})["Location"]
    response = client.post(job_url + "/parameters", {"QUEUE": "nosuch", "EXECUTIONDURATION": "10"})
    assert 400 <= response.status_code < 500 and b"no queue called" in response.content
