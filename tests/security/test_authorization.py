"""Every URL of every app, hit by anonymous and by an outsider for objects owned by ``owner``.

The URL list comes from Django's resolver, so a new endpoint fails here until it is classified:
either PUBLIC (answers everybody, but must not show the owner's private things) or bound to an
object of the owner (must answer 302-to-login, 401, 403, 404 or 405, never the owner's data).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern

from tests.conftest import FourUsers

from .conftest import SECRET, OwnersThings, client_for

# Pages anyone may open; they list only what the visitor may see.
PUBLIC = {
    "home", "health", "metadata:schemas", "metadata:search", "metadata:schema", "query:index", "tap:root", "tap:sync",
    "tap:async", "tap:capabilities", "tap:availability", "tap:tables", "tap:examples", "conesearch:index",
    "conesearch:search", "contact", "docs", "favicon", "query:adql_reference", "query:limits", "tap:login", "tap:logout",
    "registry:oai",
}
# Pages of the visitor's own things (login required): they must not show the owner's.
OWN = {
    "accounts:profile", "accounts:token_create", "accounts:api_me", "accounts:pending", "access:groups",
    "access:invitations", "activity:mine", "activity:all", "activity:statistics", "query:jobs", "files:index",
    "files:create_volume", "files:api_volumes", "compute:index", "compute:api_jobs", "compute:api_images",
    "compute:api_domains", "compute:uws", "query:import", "compute:start_session", "compute:api_sessions",
}
# The publishers' admin pages: staff only.
STAFF = {"admin:metadata_ingest", "admin:metadata_discover"}
REFUSED = {302, 401, 403, 404, 405}


def _route(pattern: Any) -> str:
    """A route as a client writes it: the TAP families' regular expressions (``^auth/+``, ``^[/]+``) as plain text."""
    if isinstance(pattern, RegexPattern):
        return re.sub(r"(\[/\]|/)\+", "/", str(pattern).lstrip("^"))
    return str(pattern)


def same_service(name: str) -> str:
    """``tap:auth:sync`` and ``tap:slash:sync`` are ``tap:sync`` under another root."""
    return re.sub(r"^tap:(auth|slash):", "tap:", name)


def app_patterns() -> Iterator[tuple[str, str, list[str]]]:
    """(name, route with <param> placeholders, parameter names) of every URL served by apps.*."""

    def walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[tuple[str, str, list[str]]]:
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
                yield from walk(p.url_patterns, prefix + _route(p.pattern), ns)
            elif isinstance(p, URLPattern) and p.callback.__module__.startswith("apps."):
                route = prefix + str(p.pattern)
                yield f"{namespace}{p.name}", route, re.findall(r"<(?:\w+:)?(\w+)>", route)

    yield from walk(get_resolver().url_patterns, "/", "")


def values(name: str, things: OwnersThings, users: FourUsers) -> dict[str, Any]:
    """The owner's object for each URL parameter."""
    job = things.compute_job.id if name.startswith("compute:") else things.query_job.id
    return {
        "job_id": job, "volume_id": things.volume.pk, "group_id": users.group.pk, "membership_id": things.membership.pk,
        "resource_id": things.resource.pk, "table_id": things.table.pk, "token_id": things.token_id, "user_id": users.owner.pk, "step": "activate",
        "schema": "survey", "table": SECRET, "name": f"survey.{SECRET}", "token": "x", "stream": "stdout",
        "slug": "owners-notes", "session_id": things.session_id, "fmt": "txt",
        "resource": "results" if name.startswith("tap:") else "stdout",
    }


def url_of(route: str, params: dict[str, Any]) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(params[m.group(1)]), route)


def refused(response: Any, anonymous: bool, admin: bool) -> bool:
    if response.status_code == 302:
        return "/admin/login/" in response["Location"] if admin else anonymous and "/accounts/login/" in response["Location"]
    return response.status_code in REFUSED


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_it_classifies_every_url() -> None:
    for name, _path, params in app_patterns():
        base = same_service(name)
        assert base in PUBLIC or base in OWN or base in STAFF or params, f"{name} has no object and is not classified: add it here"


@pytest.mark.parametrize("who", ["anonymous", "outsider"])
def test_it_never_serves_the_owners_things_to_others(who: str, users: FourUsers, things: OwnersThings) -> None:
    visitor = getattr(users, who)
    client = client_for(visitor)
    leaks: list[str] = []
    for name, route, params in app_patterns():
        url = url_of(route, values(name, things, users))
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            content = body(response).replace(f"survey.{SECRET}".encode(), b"")  # the URL's own words, echoed
            if SECRET.encode() in content:
                leaks.append(f"{method.upper()} {url} ({name}) shows the owner's data: {response.status_code}")
            elif (params or name in STAFF) and same_service(name) not in PUBLIC and not refused(response, not visitor.is_authenticated,
                                                                                  name.startswith("admin:")):
                leaks.append(f"{method.upper()} {url} ({name}) answers {response.status_code}")
    assert not leaks, "\n".join(leaks)


def test_it_serves_the_owner(users: FourUsers, things: OwnersThings) -> None:
    """The matrix means something: the same URLs show the owner what others may not see."""
    client = client_for(users.owner)
    for url in (f"/query/jobs/{things.query_job.id}/rows", f"/tap/async/{things.query_job.id}/results/result",
                f"/files/api/volumes/{things.volume.pk}/download/?path={SECRET}.txt", f"/compute/api/jobs/{things.compute_job.id}/",
                f"/data/survey/{SECRET}/", f"/tap/tables/survey.{SECRET}"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert SECRET.encode() in body(response), url
    assert SECRET.encode() in body(client.get("/data/search", {"q": SECRET[:-2]}))
    from apps.query import actions

    result = actions.run_sync(users.owner, query="SELECT table_name FROM TAP_SCHEMA.tables", language="ADQL")
    assert SECRET in str([b.to_pylist() for b in result.batches])



@pytest.mark.parametrize("who", ["anonymous", "outsider", "member"])
def test_it_hides_private_tables_from_queries_and_tap_schema(who: str, users: FourUsers, things: OwnersThings) -> None:
    from apps.adql import AdqlError
    from apps.query import actions
    from apps.query.planning import QueryError

    visitor = getattr(users, who)
    for language, query in [("ADQL", f"SELECT * FROM survey.{SECRET}"), ("duckdb", f"SELECT * FROM survey.{SECRET}"),
                            ("ADQL", f"SELECT * FROM survey.stars AS s WHERE EXISTS (SELECT 1 FROM survey.{SECRET})"),
                            ("postgresql", f'SELECT * FROM "survey"."{SECRET}"')]:
        with pytest.raises((AdqlError, QueryError)):
            actions.run_sync(visitor, query=query, language=language)
    result = actions.run_sync(visitor, query="SELECT table_name, description FROM TAP_SCHEMA.tables", language="ADQL")
    assert SECRET not in str([b.to_pylist() for b in result.batches])
    result = actions.run_sync(visitor, query="SELECT table_name FROM TAP_SCHEMA.columns", language="ADQL")
    assert SECRET not in str([b.to_pylist() for b in result.batches])


@pytest.mark.parametrize("who", ["anonymous", "outsider"])
def test_it_finds_nothing_private_in_searches(who: str, users: FourUsers, things: OwnersThings) -> None:
    client = client_for(getattr(users, who))
    part = SECRET[:-2]  # matches the owner's names, but an echo of the search is not the whole word
    for url, params in [("/data/search", {"q": part}), ("/query/jobs/", {"q": part}), ("/activity/", {"q": part}),
                        ("/tap/async", {"PHASE": "COMPLETED"}), ("/compute/uws", {}), ("/files/api/volumes/", {})]:
        response = client.get(url, params)
        assert SECRET.encode() not in body(response), url
