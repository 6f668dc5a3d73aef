"""The shared, deterministic data set of the differential tests, and its loaders.

One table ``diff`` with NULLs, negatives, zeros, halves (for rounding), positions at
the poles and on both sides of RA 0/360, and strings that differ only by case,
trailing blanks, quotes, backslashes and non-ASCII letters. Every engine gets the
same rows; the ADQL answers must then be the same everywhere.
"""

from __future__ import annotations

import random
from typing import Any

from apps.adql import ColumnInfo

NAMES = ["alpha", "Alpha", "ALPHA", "alpha ", "beta", "O'Brien", "naïve", "Ωmega", "", None,
         "x_y%z", "back\\slash", "NGC 104", "m31"]
SPECIAL_POSITIONS = [(0.0, 90.0), (180.0, 89.95), (359.95, 0.0), (0.05, 0.0), (0.0, 0.0),
                     (200.0, -89.99), (20.0, -89.99), (359.99, -30.0), (10.0, 20.0), (10.05, 20.0)]
X_VALUES = [None, 0.0, -0.5, 0.5, 2.5, -2.5, 1.5, -1.5, 1e-3, 123.456, -7.0, 7.0, 1e6, -3.25,
            0.999, 2.675]

Row = tuple[int, int | None, int, float | None, float | None, str | None, float, float]

COLUMNS = (
    ColumnInfo("id", "BIGINT"),
    ColumnInfo("ival", "BIGINT"),
    ColumnInfo("flag", "INTEGER"),
    ColumnInfo("x", "DOUBLE"),
    ColumnInfo("y", "DOUBLE"),
    ColumnInfo("name", "VARCHAR", arraysize="*"),
    ColumnInfo("ra", "DOUBLE", unit="deg"),
    ColumnInfo("dec", "DOUBLE", unit="deg"),
)


def rows(n: int = 500) -> list[Row]:
    rng = random.Random(20261127)
    out: list[Row] = []
    for i in range(1, n + 1):
        ival = None if i % 11 == 0 else rng.randint(-20, 20)
        x = X_VALUES[i % len(X_VALUES)] if i <= 64 else (
            None if rng.random() < 0.08 else round(rng.uniform(-100, 100), 3))
        y = None if i % 13 == 0 else round(rng.uniform(-5, 5), 2)
        name = NAMES[i % len(NAMES)]
        if i <= len(SPECIAL_POSITIONS):
            ra, dec = SPECIAL_POSITIONS[i - 1]
        else:
            ra, dec = round(rng.uniform(0, 360), 4), round(rng.uniform(-90, 90), 4)
        out.append((i, ival, i % 2, x, y, name, ra, dec))
    return out


DATA = rows()


def load_postgresql(conn: Any, schema: str) -> None:
    conn.execute(f"CREATE TABLE {schema}.diff (id BIGINT, ival BIGINT, flag INTEGER, x DOUBLE PRECISION, "
                 "y DOUBLE PRECISION, name TEXT, ra DOUBLE PRECISION, dec DOUBLE PRECISION)")
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {schema}.diff VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", DATA)


def load_mariadb(cur: Any, schema: str) -> None:
    # As workers/engines/mariadb.py creates science and MyDB tables.
    cur.execute(f"CREATE TABLE {schema}.diff (id BIGINT, ival BIGINT, flag INTEGER, x DOUBLE, y DOUBLE, "
                "name VARCHAR(100), ra DOUBLE, `dec` DOUBLE) "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin")
    cur.executemany(f"INSERT INTO {schema}.diff VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", DATA)


def load_duckdb(conn: Any, schema: str) -> None:
    conn.execute(f"CREATE TABLE {schema}.diff (id BIGINT, ival BIGINT, flag INTEGER, x DOUBLE, y DOUBLE, "
                 "name VARCHAR, ra DOUBLE, dec DOUBLE)")
    conn.executemany(f"INSERT INTO {schema}.diff VALUES (?, ?, ?, ?, ?, ?, ?, ?)", DATA)


def load_spark(session: Any, schema: str) -> None:
    df = session.createDataFrame(DATA, "id BIGINT, ival BIGINT, flag INT, x DOUBLE, y DOUBLE, "
                                       "name STRING, ra DOUBLE, dec DOUBLE")
    df.write.mode("overwrite").saveAsTable(f"{schema}.diff")
