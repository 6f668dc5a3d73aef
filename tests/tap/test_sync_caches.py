"""What a sync query remembers between requests (catalogues, schema engines, shared results, result descriptions)
is forgotten the moment metadata or privileges change: a revoked grant, a withdrawn table or a new link template
shows in the very next request, for the owner, a group member, an outsider and an anonymous client alike."""

from __future__ import annotations

import gzip
import uuid
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.access.actions import builtin_group, do_grant, do_revoke
from apps.access.models import Group, Privilege
from apps.datalink.models import LinkTemplate
from apps.metadata.actions import do_restore_table, do_set_access_level, do_withdraw_table
from apps.metadata.catalog import VERSION_KEY
from apps.metadata.models import PRIVATE

from .conftest import basic_auth

QUERY = "SELECT TOP 3 oid, ra, dec FROM ztf.lightcurves"


def _status(client: Client, who: Any, query: str = QUERY) -> int:
    headers = {"HTTP_AUTHORIZATION": basic_auth(who)} if who.is_authenticated else {}
    response = client.get("/tap/sync", {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query}, **headers)
    if response.streaming:
        b"".join(response.streaming_content)  # type: ignore[attr-defined]  # runs the query to its end
    return int(response.status_code)


def _statuses(client: Client, users: Any) -> dict[str, int]:
    return {name: _status(client, getattr(users, name)) for name in ("owner", "member", "outsider", "anonymous")}


@pytest.fixture
def ztf(demo: list[Any], users: Any) -> Any:
    table = next(t for t in demo if t.qualified_name == "ztf.lightcurves")
    do_set_access_level(None, table, PRIVATE)
    do_grant(None, table.resource, "query", user=users.owner)
    return table


def test_a_revoked_group_grant_refuses_the_next_query_at_once(client: Client, users: Any, ztf: Any) -> None:
    grant = do_grant(None, ztf.resource, "query", group=users.group)
    assert _statuses(client, users) == {"owner": 200, "member": 200, "outsider": 400, "anonymous": 400}
    assert _statuses(client, users) == {"owner": 200, "member": 200, "outsider": 400, "anonymous": 400}  # now remembered
    do_revoke(None, grant)
    assert _statuses(client, users) == {"owner": 200, "member": 400, "outsider": 400, "anonymous": 400}


def test_a_grant_to_anyone_and_its_revocation_show_at_once_for_anonymous_clients(client: Client, users: Any, ztf: Any) -> None:
    assert _status(client, users.anonymous) == 400
    grant = do_grant(None, ztf.resource, "query", group=builtin_group(Group.KIND_ANYONE))
    assert _statuses(client, users) == {"owner": 200, "member": 200, "outsider": 200, "anonymous": 200}
    do_revoke(None, grant)
    assert _statuses(client, users) == {"owner": 200, "member": 400, "outsider": 400, "anonymous": 400}


def test_leaving_the_group_refuses_the_next_query_at_once(client: Client, users: Any, ztf: Any) -> None:
    do_grant(None, ztf.resource, "query", group=users.group)
    assert _status(client, users.member) == 200
    users.group.memberships.filter(user=users.member).delete()
    assert _status(client, users.member) == 400


def test_a_withdrawn_table_is_refused_at_once_and_a_restored_one_answers_again(client: Client, users: Any, demo: list[Any]) -> None:
    gaia = next(t for t in demo if t.qualified_name == "gaia.source")
    query = "SELECT TOP 2 source_id FROM gaia.source"
    assert _status(client, users.anonymous, query) == 200
    do_withdraw_table(None, gaia)
    assert _status(client, users.anonymous, query) == 400
    assert _status(client, users.owner, query) == 400
    do_restore_table(None, gaia)
    assert _status(client, users.anonymous, query) == 200


def test_a_superuser_promotion_counts_at_once(client: Client, users: Any, ztf: Any) -> None:
    assert _status(client, users.outsider) == 400
    users.outsider.is_superuser = True
    users.outsider.save()
    assert _status(client, users.outsider) == 200


def test_a_change_made_by_another_process_shows_at_the_next_request(client: Client, users: Any, ztf: Any) -> None:
    grant = do_grant(None, ztf.resource, "query", group=users.group)
    assert _status(client, users.member) == 200
    # Another process revokes: the row goes (no signal in this process), and that process's signal handler
    # sets a new version in the shared cache. Until then this process answers from what it remembers.
    Privilege.objects.filter(pk=grant.pk)._raw_delete("default")  # type: ignore[attr-defined]
    assert _status(client, users.member) == 200
    cache.set(VERSION_KEY, uuid.uuid4().hex, None)
    assert _status(client, users.member) == 400


def test_a_new_link_template_shows_in_the_next_result(client: Client, demo: list[Any]) -> None:
    gaia = next(t for t in demo if t.qualified_name == "gaia.source")
    query = "SELECT TOP 2 source_id, ra FROM gaia.source"

    def body() -> bytes:
        response = client.get("/tap/sync", {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query,
                                            "RESPONSEFORMAT": "votable/td"}, HTTP_USER_AGENT="tests")
        data = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data

    assert b"adhoc:service" not in body()
    LinkTemplate.objects.create(table=gaia, id_column="source_id", kind="url", template="https://example.org/{id}",
                                semantics="#auxiliary", description="elsewhere", content_type="text/html")
    assert b"adhoc:service" in body()


def test_a_repeated_small_query_reads_no_metadata_or_privilege_table(client: Client, users: Any, demo: list[Any]) -> None:
    query = "SELECT TOP 2 source_id FROM gaia.source WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE({ra}, 0, 5))"
    _status(client, users.anonymous, query.format(ra=1))
    with CaptureQueriesContext(connection) as ctx:
        assert _status(client, users.anonymous, query.format(ra=2)) == 200
    read = [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert not [s for s in read if any(t in s for t in ("metadata_", "access_", "datalink_"))], read
