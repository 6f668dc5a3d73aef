"""Two portals on one MariaDB server: each keeps its users' tables under its own database, and
a portal refuses to start on a database another portal has claimed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from apps.core.checks import check_mariadb_database
from workers.engines.base import EngineError, TableName
from workers.engines.mariadb import MariaDBEngine, installation_problem

SERVER = "mysql://root@127.0.0.1:3306"


@pytest.fixture
def portals() -> Iterator[tuple[MariaDBEngine, MariaDBEngine]]:
    suffix = uuid.uuid4().hex[:8]
    a = MariaDBEngine(f"{SERVER}/portal_a_{suffix}", installation="https://a.example.org")
    b = MariaDBEngine(f"{SERVER}/portal_b_{suffix}", installation="https://b.example.org")
    yield a, b
    with a.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
                    [f"portal\\_%\\_{suffix}%"])
        for (name,) in cur.fetchall():
            cur.execute(f"DROP DATABASE `{name}`")


def test_two_portals_keep_their_users_tables_apart(portals: tuple[MariaDBEngine, MariaDBEngine]) -> None:
    a, b = portals
    user_table = TableName(f"mydb_{uuid.uuid4().int % 10**6}", "result")
    a.execute("SELECT 'from a' AS who", into=user_table, timeout_s=30, job_id=uuid.uuid4().hex)
    b.execute("SELECT 'from b' AS who", into=user_table, timeout_s=30, job_id=uuid.uuid4().hex)
    assert pa.Table.from_batches(list(a.fetch(user_table))).column("who").to_pylist() == ["from a"]
    assert pa.Table.from_batches(list(b.fetch(user_table))).column("who").to_pylist() == ["from b"]
    b.ingest(TableName(user_table.schema, "upload"), iter([pa.record_batch({"x": [1]})]), pa.schema([("x", pa.int64())]))
    with a.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA LIKE %s",
                    [f"%{user_table.schema}"])
        found = sorted(cur.fetchall())
    assert found == sorted([(a.server_database(user_table.schema), "result"),
                            (b.server_database(user_table.schema), "result"),
                            (b.server_database(user_table.schema), "upload")])
    assert all(schema.startswith(("portal_a_", "portal_b_")) for schema, _ in found)
    assert [t.name for t in a.introspect(user_table.schema)] == ["result"]


def test_a_portal_refuses_a_database_another_portal_claimed(portals: tuple[MariaDBEngine, MariaDBEngine]) -> None:
    a, _ = portals
    url = f"{SERVER}/{a.database}"
    assert installation_problem(url, "https://b.example.org") is None  # nobody has claimed it yet
    a.setup()
    assert installation_problem(url, "https://a.example.org") is None
    problem = installation_problem(url, "https://b.example.org")
    assert problem and "belongs to the portal at https://a.example.org" in problem


@pytest.mark.parametrize(("url", "reason"), [(SERVER, "names no database"), (f"{SERVER}/mysql", "system database")])
def test_a_portal_needs_a_database_of_its_own(url: str, reason: str) -> None:
    problem = installation_problem(url, "https://a.example.org")
    assert problem and reason in problem


def test_the_system_check_refuses_to_start(portals: tuple[MariaDBEngine, MariaDBEngine], settings: Any) -> None:
    a, _ = portals
    a.setup()
    settings.SCIENCE_MARIADB_URL = f"{SERVER}/{a.database}"
    settings.SITE_URL = "https://b.example.org"
    (error,) = check_mariadb_database(None)
    assert error.id == "daiquiri.E020" and error.is_serious()
    settings.SITE_URL = "https://a.example.org"
    assert check_mariadb_database(None) == []


def test_an_engine_writes_nothing_into_another_portals_database(portals: tuple[MariaDBEngine, MariaDBEngine]) -> None:
    a, _ = portals
    a.setup()
    intruder = MariaDBEngine(f"{SERVER}/{a.database}", installation="https://b.example.org")
    with pytest.raises(EngineError, match=r"belongs to the portal at https://a\.example\.org"):
        intruder.execute("SELECT 1 AS x", into=TableName("mydb_1", "t"), timeout_s=30, job_id=uuid.uuid4().hex)
    assert a.introspect("mydb_1") == []
