"""Parquet storage shared by the DuckDB and Spark engines.

A table ``schema.name`` is ``<SCIENCE_DIR>/<schema>/<name>.parquet`` (a file,
or a folder of parts as Spark writes them), or ``<SCIENCE_DIR>/<schema>/<name>/``
when that folder is a HATS catalogue (HEALPix-partitioned, see hats.py: written
by ``ingest_hats`` or published elsewhere and copied in as it is); a user's result table
``mydb_<user id>.name`` is ``<MYDB_DIR>/<user id>/<name>.parquet``. Every write
goes to a hidden temporary name in the same folder and is renamed into place,
so readers never see half a table and a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .base import MYDB_PREFIX, EngineError, IntrospectedTable, TableName
from .common import NAME_RE, check_name, with_schema
from .hats import HEALPIX_COLUMN, HatsError, HatsInfo, HatsSettings, Pixel, Progress, is_hats, read_hats_info, visible_schema, write_hats
from .types import columns_from_schema


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
    def plain_path(self, table: TableName) -> Path:
        """Where a table written by ``ingest`` or a query result lives: ``<name>.parquet``."""
        check_name(table)
        if table.schema.startswith(MYDB_PREFIX):
            return self.mydb_dir / table.schema[len(MYDB_PREFIX):] / f"{table.name}.parquet"
        return self.science_dir / table.schema / f"{table.name}.parquet"

    def hats_path(self, table: TableName) -> Path:
        """Where a HATS table lives: the folder ``<name>`` (as published HATS catalogues are named)."""
        return self.plain_path(table).with_suffix("")

    def path(self, table: TableName) -> Path:
        """The table's file or folder: ``<name>.parquet``, else a HATS folder ``<name>`` if there is one."""
        plain = self.plain_path(table)
        if not plain.exists() and not table.schema.startswith(MYDB_PREFIX) and is_hats(plain.with_suffix("")):
            return plain.with_suffix("")
        return plain

    def hats(self, table: TableName) -> HatsInfo | None:
        """The HATS metadata of a HEALPix-partitioned table; None for a plain one."""
        path = self.path(table)
        if path.suffix == ".parquet":
            return None
        try:
            return read_hats_info(path)
        except HatsError as e:
            raise EngineError(f"{table.schema}.{table.name}: {e}") from e

    def exists(self, table: TableName) -> bool:
        return self.path(table).exists()

    def temp_path(self, table: TableName) -> Path:
        final = self.plain_path(table)
        final.parent.mkdir(parents=True, exist_ok=True)
        return final.parent / f".{final.stem}.{uuid.uuid4().hex[:12]}.tmp"

    def publish(self, tmp: Path, table: TableName, *, replace: bool = False) -> None:
        """Move a finished temporary file or folder to the table's name (replacing a HATS folder of that name too)."""
        final = self.plain_path(table)
        existing = self.path(table)
        if existing.exists() and not replace:
            remove(tmp)
            raise EngineError(f"a table named {table.name} already exists in {table.schema}")
        if existing.exists():  # os.replace cannot swap folders: move the old one aside first
            old = final.parent / f".{final.stem}.{uuid.uuid4().hex[:12]}.old"
            os.replace(existing, old)
            os.replace(tmp, final)
            remove(old)
        else:
            os.replace(tmp, final)

    def tables(self, schema: str) -> list[str]:
        base = self.plain_path(TableName(schema, "x")).parent
        if not base.is_dir():
            return []
        found = {p.stem for p in base.iterdir() if p.suffix == ".parquet" and not p.name.startswith(".")}
        if not schema.startswith(MYDB_PREFIX):
            found |= {p.name for p in base.iterdir() if NAME_RE.match(p.name) and is_hats(p)}
        return sorted(found)

    def schemas(self) -> list[str]:
        if not self.science_dir.is_dir():
            return []
        return sorted(p.name for p in self.science_dir.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and NAME_RE.match(p.name))

    # ---- reading -----------------------------------------------------------
    def sql_from(self, table: TableName, dialect: str = "duckdb") -> str:
        try:
            return parquet_sql_from(dialect, self.path(table))
        except HatsError as e:
            raise EngineError(f"{table.schema}.{table.name}: {e}") from e

    def scan_sql(self, path: Path) -> str:
        """The DuckDB FROM fragment reading a table's file, folder of parts or HATS catalogue."""
        return parquet_sql_from("duckdb", path)

    def read_location(self, table: TableName) -> Path:
        """What a reader opens: the file or folder of parts, or a HATS catalogue's ``dataset`` folder."""
        info = self.hats(table)
        return info.dataset if info is not None else self.path(table)

    def read_options(self, table: TableName) -> dict[str, str]:
        """Options for Spark's reader: a HATS dataset's hive folders (Norder, Dir) become columns below basePath."""
        info = self.hats(table)
        return {"basePath": str(info.dataset)} if info is not None else {}

    def dataset(self, table: TableName, schema: pa.Schema | None = None) -> ds.Dataset:
        """The table as an Arrow dataset (of ``schema``'s columns only, when given); a HATS table shows its own columns."""
        path = self.path(table)
        if not path.exists():
            raise EngineError(f"no table {table.schema}.{table.name}")
        info = self.hats(table)
        if info is not None:
            return ds.dataset(str(info.dataset), format="parquet", schema=schema or visible_schema(info.schema))
        return ds.dataset(str(path), format="parquet", schema=schema)

    def arrow_schema(self, table: TableName) -> pa.Schema:
        return self.dataset(table).schema

    def size(self, table: TableName) -> int:
        path = self.path(table)
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size

    def rows(self, table: TableName) -> int:
        info = self.hats(table)
        return info.rows if info is not None else int(self.dataset(table).count_rows())

    def fetch(self, table: TableName, *, offset: int = 0, limit: int | None = None,
              order_by: str | None = None, descending: bool = False,
              batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
        schema = self.arrow_schema(table)
        if order_by is not None and order_by not in schema.names:
            raise EngineError(f"no column {order_by} in {table.name}")
        if order_by is None and offset == 0 and limit is None:
            yield from self.dataset(table).to_batches(batch_size=batch_rows)
            return
        columns = ", ".join(quote_ident(n) for n in schema.names) if self.hats(table) is not None else "*"
        sql = f"SELECT {columns} FROM {self.scan_sql(self.path(table))}"
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
            info = self.hats(t)
            data = self.dataset(t)
            rows = info.rows if info is not None else int(data.count_rows())
            out.append(IntrospectedTable(schema, name, columns_from_schema(data.schema),
                                         sql_from=(sql_from or self.sql_from)(t), row_count=rows,
                                         sky=info.sky_index() if info is not None else None, rows=rows))
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

    def ingest_hats(self, table: TableName, batches: Iterator[pa.RecordBatch], schema: pa.Schema, *, ra: str, dec: str,
                    settings: HatsSettings | None = None, progress: Progress | None = None, replace: bool = False) -> HatsInfo:
        """Create ``table`` as a HATS catalogue (HEALPix partitions sorted by ``_healpix_29``, with a margin cache).

        Resumable: after a crash, the same call redoes only the partitions not yet written.
        """
        if table.schema.startswith(MYDB_PREFIX):
            raise EngineError("results are stored as plain Parquet, not HATS")
        if self.exists(table) and not replace:
            raise EngineError(f"a table named {table.name} already exists in {table.schema}")
        target = self.hats_path(table)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            info = write_hats(batches, schema, target, ra=ra, dec=dec, settings=settings, progress=progress, replace=replace)
        except HatsError as e:
            raise EngineError(str(e)) from e
        remove(self.plain_path(table))  # the plain copy it replaces, if any
        return info

    def drop(self, table: TableName) -> None:
        path = self.path(table)
        if not path.exists():
            raise EngineError(f"no table {table.schema}.{table.name}")
        remove(path)

    def rename(self, table: TableName, new: TableName) -> None:
        src = self.path(table)
        dst = self.plain_path(new) if src.suffix == ".parquet" else self.hats_path(new)
        if not src.exists():
            raise EngineError(f"no table {table.schema}.{table.name}")
        if self.exists(new) or dst.exists():
            raise EngineError(f"a table named {new.name} already exists in {new.schema}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)


def parquet_sql_from(dialect: str, path: Path) -> str:
    """The one FROM fragment that reads a stored Parquet table at ``path`` (a file, a folder of parts or
    a HATS catalogue) on ``dialect`` ('duckdb' or 'spark'). Raises HatsError for an unreadable HATS folder."""
    if path.is_dir() and path.suffix != ".parquet" and is_hats(path):
        info = read_hats_info(path)
        return duckdb_hats_sql(info) if dialect == "duckdb" else spark_hats_sql(info)
    if dialect == "spark":  # Spark reads a folder of parts by its name
        return "parquet.`" + str(path).replace("`", "``") + "`"
    return f"read_parquet({quote_literal(str(path / '**' / '*.parquet' if path.is_dir() else path))})"


def duckdb_hats_sql(info: HatsInfo, files: list[str] | None = None) -> str:
    """DuckDB reads a HATS dataset with its hive folders (Norder, Dir) as columns, and Npix from the file name:
    filters on all three (and on ``_healpix_29``, by row-group statistics) skip files before they are opened.
    ``files``: only these (paths or globs under the dataset), not the whole folder."""
    npix_column = info.npix_is_folder or "Npix" in info.schema.names  # Npix=n/ folders: a hive column already
    where = quote_literal(str(info.dataset / '**' / '*.parquet'))
    if files is not None:
        where = "[" + ", ".join(quote_literal(f) for f in files) + "]"
    source = f"read_parquet({where}, hive_partitioning = true{'' if npix_column else ', filename = true'})"
    if npix_column:
        return source
    npix = f"CAST(regexp_extract(filename, {quote_literal('Npix=([0-9]+)')}, 1) AS BIGINT) AS {quote_ident('Npix')}"
    return f"(SELECT * EXCLUDE (filename), {npix} FROM {source})"


def spark_hats_sql(info: HatsInfo) -> str:
    """Spark SQL reading a HATS dataset: partition discovery makes Norder and Dir columns; Npix follows from the index."""
    source = spark_path(info.dataset)
    if info.npix_is_folder or "Npix" in info.schema.names:
        return source
    return f"(SELECT *, shiftright(`{HEALPIX_COLUMN}`, 2 * (29 - `Norder`)) AS `Npix` FROM {source})"


def spark_path(path: Path) -> str:
    return "parquet.`" + str(path).replace("`", "``") + "`"


SPARK_MAX_FILES = 64  # beyond, one UNION ALL member per file costs Spark more planning than its partition filters


@dataclass(frozen=True)
class HatsPartitions:
    """A HATS table's partition files, so that a query confined to some sky cells names only theirs in its FROM
    (apps.adql's PartitionedSource): no listing of the folder, no file-name filter over every file."""

    root: Path

    def info(self) -> HatsInfo:
        return read_hats_info(self.root)  # remembered per process until the catalogue's metadata files change

    def partitions(self) -> list[tuple[int, int]]:
        info = self.info()
        known = _PARTITIONS.get(self.root)
        if known is None or known[0] is not info:
            known = _PARTITIONS[self.root] = (info, [(p.order, p.pixel) for p in info.partitions])
        return known[1]

    def sql_from(self, dialect: str, partitions: Sequence[tuple[int, int]]) -> str | None:
        info = self.info()
        if not info.partitions:
            return None
        chosen = [Pixel(k, n) for k, n in partitions] or [info.partitions[0]]  # none: one file, no row of it
        nothing = " WHERE false" if not partitions else ""
        if dialect == "duckdb":
            files = [str(info.dataset / _relative(p, info)) for p in chosen]
            return f"(SELECT * FROM {duckdb_hats_sql(info, files)}{nothing})" if nothing else duckdb_hats_sql(info, files)
        if dialect == "spark" and not info.npix_is_folder and "Npix" not in info.schema.names and len(chosen) <= SPARK_MAX_FILES:
            return "(" + " UNION ALL ".join(
                f"SELECT *, {p.order} AS `Norder`, {p.dir} AS `Dir`, CAST({p.pixel} AS BIGINT) AS `Npix` "
                f"FROM {spark_path(info.dataset / p.relative_path())}{nothing}" for p in chosen) + ")"
        return None


_PARTITIONS: dict[Path, tuple[HatsInfo, list[tuple[int, int]]]] = {}


def _relative(pixel: Pixel, info: HatsInfo) -> str:
    """A partition's file, or the files of its folder when each Npix=n is a folder."""
    if info.npix_is_folder:
        return f"Norder={pixel.order}/Dir={pixel.dir}/Npix={pixel.pixel}/*.parquet"
    return pixel.relative_path().removesuffix(".parquet") + info.npix_suffix


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
