"""Parquet storage shared by the DuckDB and Spark engines.

A table ``schema.name`` is ``<SCIENCE_DIR>/<schema>/<name>.parquet`` (a file,
or a folder of parts as Spark writes them); a user's result table
``mydb_<user id>.name`` is ``<MYDB_DIR>/<user id>/<name>.parquet``. Every write
goes to a hidden temporary name in the same folder and is renamed into place,
so readers never see half a table and a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .base import EngineError, IntrospectedTable, TableName
from .common import NAME_RE, check_name, with_schema
from .types import columns_from_schema

MYDB_PREFIX = "mydb_"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class ParquetStore:
    def __init__(self, science_dir: Path, mydb_dir: Path) -> None:
        self.science_dir = Path(science_dir).resolve()
        self.mydb_dir = Path(mydb_dir).resolve()
        self._db = duckdb.connect(":memory:")
        self._lock = threading.Lock()

    # ---- where tables live ---------------------------------------------------
    def path(self, table: TableName) -> Path:
        check_name(table)
        if table.schema.startswith(MYDB_PREFIX):
            return self.mydb_dir / table.schema[len(MYDB_PREFIX):] / f"{table.name}.parquet"
        return self.science_dir / table.schema / f"{table.name}.parquet"

    def exists(self, table: TableName) -> bool:
        return self.path(table).exists()

    def temp_path(self, table: TableName) -> Path:
        final = self.path(table)
        final.parent.mkdir(parents=True, exist_ok=True)
        return final.parent / f".{final.stem}.{uuid.uuid4().hex[:12]}.tmp"

    def publish(self, tmp: Path, table: TableName, *, replace: bool = False) -> None:
        """Move a finished temporary file or folder to the table's name."""
        final = self.path(table)
        if final.exists() and not replace:
            remove(tmp)
            raise EngineError(f"a table named {table.name} already exists in {table.schema}")
        if final.exists():  # os.replace cannot swap folders: move the old one aside first
            old = final.parent / f".{final.stem}.{uuid.uuid4().hex[:12]}.old"
            os.replace(final, old)
            os.replace(tmp, final)
            remove(old)
        else:
            os.replace(tmp, final)

    def tables(self, schema: str) -> list[str]:
        base = self.path(TableName(schema, "x")).parent
        if not base.is_dir():
            return []
        return sorted(p.stem for p in base.iterdir() if p.suffix == ".parquet" and not p.name.startswith("."))

    def schemas(self) -> list[str]:
        if not self.science_dir.is_dir():
            return []
        return sorted(p.name for p in self.science_dir.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and NAME_RE.match(p.name))

    # ---- reading -----------------------------------------------------------
    def sql_from(self, table: TableName) -> str:
        return self.scan_sql(self.path(table))

    def scan_sql(self, path: Path) -> str:
        """The DuckDB FROM fragment reading a table's file or folder of parts."""
        if path.is_dir():
            return f"read_parquet({quote_literal(str(path / '**' / '*.parquet'))})"
        return f"read_parquet({quote_literal(str(path))})"

    def dataset(self, table: TableName) -> ds.Dataset:
        path = self.path(table)
        if not path.exists():
            raise EngineError(f"no table {table.schema}.{table.name}")
        return ds.dataset(str(path), format="parquet")

    def arrow_schema(self, table: TableName) -> pa.Schema:
        return self.dataset(table).schema

    def size(self, table: TableName) -> int:
        path = self.path(table)
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size

    def rows(self, table: TableName) -> int:
        return int(self.dataset(table).count_rows())

    def fetch(self, table: TableName, *, offset: int = 0, limit: int | None = None,
              order_by: str | None = None, descending: bool = False,
              batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
        schema = self.arrow_schema(table)
        if order_by is not None and order_by not in schema.names:
            raise EngineError(f"no column {order_by} in {table.name}")
        if order_by is None and offset == 0 and limit is None:
            yield from self.dataset(table).to_batches(batch_size=batch_rows)
            return
        sql = f"SELECT * FROM {self.scan_sql(self.path(table))}"
        if order_by is not None:
            sql += f" ORDER BY {quote_ident(order_by)} {'DESC' if descending else 'ASC'} NULLS LAST"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        if offset:
            sql += f" OFFSET {int(offset)}"
        with self._lock:
            cur = self._db.cursor()
        try:
            reader = with_schema(cur.sql(sql).to_arrow_reader(batch_rows))
            yield from reader
        finally:
            cur.close()

    def introspect(self, schema: str, table: str | None,
                   sql_from: Callable[[TableName], str] | None = None) -> list[IntrospectedTable]:
        names = [table] if table is not None else self.tables(schema)
        out = []
        for name in names:
            t = TableName(schema, name)
            if not self.exists(t):
                raise EngineError(f"no table {schema}.{name}")
            data = self.dataset(t)
            out.append(IntrospectedTable(schema, name, columns_from_schema(data.schema),
                                         sql_from=(sql_from or self.sql_from)(t),
                                         rows=int(data.count_rows())))
        return out

    # ---- writing -----------------------------------------------------------
    def ingest(self, table: TableName, batches: Iterator[pa.RecordBatch], schema: pa.Schema,
               *, replace: bool = False) -> int:
        if self.exists(table) and not replace:
            raise EngineError(f"a table named {table.name} already exists in {table.schema}")
        tmp = self.temp_path(table)
        rows = 0
        try:
            with pq.ParquetWriter(str(tmp), schema, compression="zstd") as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
            self.publish(tmp, table, replace=replace)
        except BaseException:
            remove(tmp)
            raise
        return rows

    def drop(self, table: TableName) -> None:
        path = self.path(table)
        if not path.exists():
            raise EngineError(f"no table {table.schema}.{table.name}")
        remove(path)

    def rename(self, table: TableName, new: TableName) -> None:
        src, dst = self.path(table), self.path(new)
        if not src.exists():
            raise EngineError(f"no table {table.schema}.{table.name}")
        if dst.exists():
            raise EngineError(f"a table named {new.name} already exists in {new.schema}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
