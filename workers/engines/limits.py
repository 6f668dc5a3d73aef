"""How much of the machine one engine in one process may take: memory, threads, spill space.

A worker process runs one job at a time, and the web process streams
synchronous queries beside its requests, so each gets its own ``Limits``
(settings ENGINE_LIMITS, ENGINE_WEB_LIMITS, and a queue's ``limits``; see
apps/query/queues.py ``engine_limits``). ``get_engine(name, limits)`` keeps one
engine per name and limits in a process.

Each field concerns one engine; the others ignore it:

- DuckDB: ``memory_limit`` (``SET memory_limit``, e.g. "2GB"), ``threads``,
  ``temp_directory`` (a folder of its own per database is made under it, so
  sorts, joins and aggregates larger than memory spill there instead of
  failing) and ``max_temp_directory_size`` (the spill space; past it the query
  fails with an out-of-memory error the user reads).
- PostgreSQL: ``work_mem`` per sort or hash of a query (spills beyond it).
- MariaDB: ``tmp_table_size`` (bytes; also ``max_heap_table_size``): in-memory
  temporary tables larger than this go to disk.
- Spark (applied when the engine's Spark session is made; one engine, so one
  session, per queue's limits):
  ``spark_cores``: a local session (``SPARK_REMOTE=local``) runs ``local[n]``, n
  task threads; on Spark Connect it sets the session's shuffle partitions (2 per
  core), so the query is cut for that many cores. ``spark_memory``: a local
  session's JVM heap (``spark.driver.memory``, where its tasks run; it takes effect
  when the process starts its first JVM). ``spark_pool``: the FAIR scheduler pool
  the session's jobs go to (``spark.scheduler.pool``), so a long queue's scans
  share the executors with a quick queue's instead of holding them all.
  Executors of a Connect server are the server's (a Spark application's cores
  and memory are fixed when it starts; Spark refuses to change them per
  session): ``spark_remote`` sends the queue's jobs to a Connect server of its
  own, started with the executor cores and memory that queue is to have.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)


def check_size(text: str) -> str:
    """A memory size DuckDB and PostgreSQL both read ("512MB", "2GB"); ValueError otherwise."""
    if text and not _SIZE.match(text):
        raise ValueError(f"{text!r} is not a memory size: write a number and a unit, like 512MB or 2GB")
    return text.strip().replace(" ", "")


@dataclass(frozen=True)
class Limits:
    memory_limit: str = ""  # DuckDB; "" = its own default (80 % of the machine)
    threads: int = 0  # DuckDB; 0 = one per core
    temp_directory: str = ""  # DuckDB spill folder; "" = no spilling beyond memory
    max_temp_directory_size: str = ""  # DuckDB; "" = 90 % of the free disk
    work_mem: str = ""  # PostgreSQL
    tmp_table_size: int = 0  # MariaDB, bytes; 0 = the server's own
    spark_cores: int = 0  # Spark; 0 = local[2] / the server's shuffle partitions
    spark_memory: str = ""  # Spark, a local session's heap; "" = Spark's default (1g)
    spark_pool: str = ""  # Spark FAIR scheduler pool; "" = the default pool
    spark_remote: str = ""  # Spark Connect server of this queue; "" = settings.SPARK_REMOTE

    def __post_init__(self) -> None:
        for size in (self.memory_limit, self.max_temp_directory_size, self.work_mem, self.spark_memory):
            check_size(size)
        if self.spark_cores < 0:
            raise ValueError(f"spark_cores must be 0 (Spark's own) or a number of cores, not {self.spark_cores}")
        if self.spark_remote and not self.spark_remote.startswith(("sc://", "local")):
            raise ValueError(f"spark_remote {self.spark_remote!r} must be a Spark Connect URL (sc://host:port) or 'local'")

    def spark_conf(self) -> dict[str, str]:
        """The session settings these limits give a Spark Connect session (or a local one, beside its master)."""
        conf: dict[str, str] = {}
        if self.spark_cores:
            conf["spark.sql.shuffle.partitions"] = str(2 * self.spark_cores)
        if self.spark_pool:
            conf["spark.scheduler.pool"] = self.spark_pool
        return conf

    def spark_jvm(self) -> dict[str, str]:
        """What a local session's JVM is started with: its master (task threads) and heap."""
        conf = {"spark.master": f"local[{self.spark_cores or 2}]"}
        if self.spark_memory:
            conf["spark.driver.memory"] = spark_size(self.spark_memory)
        return conf


def spark_size(text: str) -> str:
    """A size as the JVM options read it ("512MB" -> "512m", "2GB" -> "2g")."""
    match = re.match(r"^(\d+(?:\.\d+)?)(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)$", check_size(text).upper())
    if match is None:
        raise ValueError(f"{text!r} is not a memory size")
    number, unit = match.groups()
    mib = float(number) * {"B": 2**-20, "KB": 2**-10, "KIB": 2**-10, "MB": 1, "MIB": 1, "GB": 1024, "GIB": 1024,
                           "TB": 2**20, "TIB": 2**20}[unit]
    return f"{max(int(mib), 1)}m"


def spill_folder(temp_directory: str) -> Path | None:
    """A fresh folder for one database's spill files, named after this process (see ``clean_spill``)."""
    if not temp_directory:
        return None
    root = Path(temp_directory).resolve()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    clean_spill(root)
    folder = root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(mode=0o700)
    return folder


def clean_spill(root: Path) -> None:
    """Remove the spill folders of processes that died without removing them (killed workers)."""
    for folder in root.iterdir():
        pid = folder.name.split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not ours to judge
        return True
    return True
