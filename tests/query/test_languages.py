"""Native SQL is a privilege the data centre gives; ADQL is for everybody."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.access.actions import do_grant
from apps.query.languages import language_resource, languages_for, may_use_native
from apps.query.planning import QueryError, plan_query
from tests.conftest import FourUsers, make_user


@pytest.fixture
def nobody_by_default(settings: Any) -> None:
    settings.QUERY_NATIVE_SQL_FOR = "none"


@pytest.mark.usefixtures("nobody_by_default")
def test_nobody_writes_native_sql_until_it_is_granted(users: FourUsers) -> None:
    for user in (users.owner, users.member, users.outsider, users.anonymous):
        assert not may_use_native(user, "duckdb")
        with pytest.raises(QueryError, match="may not write duckdb SQL"):
            plan_query(user, query="SELECT 1", language="duckdb")
    assert plan_query(users.owner, query="SELECT TOP 1 table_name FROM TAP_SCHEMA.tables", language="ADQL").engine


@pytest.mark.usefixtures("nobody_by_default")
def test_a_grant_to_a_group_lets_its_members_write_that_sql_only(users: FourUsers) -> None:
    do_grant(None, language_resource("duckdb"), "use", group=users.group)
    assert may_use_native(users.member, "duckdb") and may_use_native(users.owner, "duckdb")
    assert not may_use_native(users.member, "postgresql")
    assert not may_use_native(users.outsider, "duckdb") and not may_use_native(users.anonymous, "duckdb")
    assert languages_for(users.member) == ["ADQL", "duckdb"]


def test_the_setting_opens_native_sql_to_registered_users(settings: Any, db: None) -> None:
    settings.QUERY_NATIVE_SQL_FOR = "public"
    from django.contrib.auth.models import AnonymousUser

    assert may_use_native(make_user("someone"), "duckdb")
    assert not may_use_native(AnonymousUser(), "duckdb")


@pytest.mark.usefixtures("nobody_by_default")
def test_the_query_page_offers_only_the_languages_one_may_use(users: FourUsers) -> None:
    client = Client()
    client.force_login(users.outsider)
    page = client.get(reverse("query:index")).content.decode()
    assert '<option value="ADQL"' in page or ">ADQL<" in page
    assert "duckdb" not in page.split('name="language"')[1].split("</select>")[0]


@pytest.mark.usefixtures("nobody_by_default")
def test_an_unknown_language_is_refused_naming_only_the_languages_this_user_may_use(users: FourUsers) -> None:
    do_grant(None, language_resource("duckdb"), "use", group=users.group)
    with pytest.raises(QueryError, match=r"'cobol': use ADQL or duckdb\.$"):
        plan_query(users.member, query="SELECT 1", language="cobol")
    with pytest.raises(QueryError, match=r"'cobol': use ADQL\.$"):
        plan_query(users.outsider, query="SELECT 1", language="cobol")
