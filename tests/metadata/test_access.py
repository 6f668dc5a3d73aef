"""Who may see (read) and query a table: owner, group member, outsider, anonymous."""

from __future__ import annotations

import pytest

from apps.access.actions import do_grant
from apps.access.permissions import has_privilege
from apps.metadata.actions import do_publish_table, do_set_access_level
from apps.metadata.catalog import catalog_for, visible_tables
from apps.metadata.models import INTERNAL, PRIVATE, PUBLIC
from tests.conftest import FourUsers

from .conftest import make_table


def _who_may(users: FourUsers, action: str) -> dict[str, bool]:
    people = {"owner": users.owner, "member": users.member, "outsider": users.outsider, "anonymous": users.anonymous}
    return {name: visible_tables(user, action).exists() for name, user in people.items()}


@pytest.mark.parametrize(("level", "expected"), [
    (PUBLIC, {"owner": True, "member": True, "outsider": True, "anonymous": True}),
    (INTERNAL, {"owner": True, "member": True, "outsider": True, "anonymous": False}),
    (PRIVATE, {"owner": True, "member": False, "outsider": False, "anonymous": False}),
])
def test_the_access_level_decides_who_may_query(users: FourUsers, science: object, level: str, expected: dict[str, bool]) -> None:
    make_table(users, level=level)
    assert _who_may(users, "query") == expected
    assert _who_may(users, "read") == expected


def test_a_private_table_shared_with_a_group_is_open_to_its_members_only(users: FourUsers, science: object) -> None:
    table = make_table(users, level=PRIVATE)
    do_grant(users.owner, table.resource, "query", group=users.group)
    do_grant(users.owner, table.resource, "read", group=users.group)
    assert _who_may(users, "query") == {"owner": True, "member": True, "outsider": False, "anonymous": False}


def test_seeing_metadata_and_reading_data_are_granted_separately(users: FourUsers, science: object) -> None:
    table = make_table(users, level=INTERNAL, metadata_level=PUBLIC)
    assert _who_may(users, "read")["anonymous"] is True
    assert _who_may(users, "query")["anonymous"] is False
    do_grant(users.owner, table.resource, "read", user=users.outsider)
    do_set_access_level(users.owner, table, PRIVATE, PRIVATE)
    assert _who_may(users, "read") == {"owner": True, "member": False, "outsider": True, "anonymous": False}
    assert _who_may(users, "query") == {"owner": True, "member": False, "outsider": False, "anonymous": False}


def test_the_metadata_level_is_never_narrower_than_the_data_level(users: FourUsers, science: object) -> None:
    table = make_table(users, level=PUBLIC, metadata_level=PRIVATE)
    assert has_privilege(users.anonymous, "read", table.resource)


def test_unpublished_tables_are_hidden_even_when_public(users: FourUsers, science: object) -> None:
    table = make_table(users, level=PUBLIC)
    do_publish_table(users.owner, table, published=False)
    assert _who_may(users, "query") == {"owner": False, "member": False, "outsider": False, "anonymous": False}


def test_changing_the_level_removes_the_old_privileges(users: FourUsers, science: object) -> None:
    table = make_table(users, level=PUBLIC)
    do_set_access_level(users.owner, table, INTERNAL)
    assert not has_privilege(users.anonymous, "query", table.resource)
    assert has_privilege(users.outsider, "query", table.resource)
    assert table.resource.privileges.filter(group__kind="anyone").count() == 0


def test_column_access_levels_narrow_the_table(users: FourUsers, science: object) -> None:
    table = make_table(users, level=PUBLIC)
    table.columns.filter(name="mag").update(access_level=INTERNAL)
    table.columns.filter(name="dec").update(access_level=PRIVATE)

    def columns(user: object) -> set[str]:
        [info] = catalog_for(user).find_tables("survey", "stars")  # type: ignore[arg-type]
        return {c.name for c in info.columns}

    assert columns(users.anonymous) == {"source_id", "ra"}
    assert columns(users.outsider) == {"source_id", "ra", "mag"}
    assert columns(users.owner) == {"source_id", "ra", "dec", "mag"}


def test_the_sharing_page_of_a_table_is_the_generic_one(users: FourUsers, science: object, client: object) -> None:
    table = make_table(users, level=PRIVATE)
    client.force_login(users.owner)  # type: ignore[attr-defined]
    assert client.get(f"/access/resources/{table.resource_id}/share").status_code == 200  # type: ignore[attr-defined]


def test_a_table_shared_from_a_private_schema_is_visible_to_the_group(users: FourUsers, science: object, client: object) -> None:
    from apps.metadata.actions import do_create_schema, do_create_table
    from apps.metadata.catalog import visible_schemas
    from apps.metadata.tap_schema import tap_schema_rows

    users.owner.is_staff = True
    schema = do_create_schema(users.owner, "team", engine="duckdb", access_level=PRIVATE)
    table = do_create_table(users.owner, schema, "results", columns=[{"name": "x", "datatype": "DOUBLE"}], access_level=PRIVATE)
    do_publish_table(users.owner, table)
    do_grant(users.owner, table.resource, "read", group=users.group)
    do_grant(users.owner, table.resource, "query", group=users.group)
    assert "team.results" in catalog_for(users.member).table_names()
    assert "team.results" not in catalog_for(users.outsider).table_names()
    assert list(visible_schemas(users.member).values_list("name", flat=True)) == ["team"]
    assert not visible_schemas(users.outsider).exists()
    assert "team.results" in {t["table_name"] for t in tap_schema_rows(users.member)["tables"]}
    client.force_login(users.member)  # type: ignore[attr-defined]
    assert client.get("/data/team/results/").status_code == 200  # type: ignore[attr-defined]
    assert "team.results" in client.get("/data/").content.decode()  # type: ignore[attr-defined]
