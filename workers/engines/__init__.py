"""Query engines behind one small interface (``base.Engine``).

    from workers.engines import get_engine, available_engines
    engine = get_engine()              # settings.DEFAULT_ENGINE
    engine = get_engine("postgresql")  # created once per process, then reused
    engine = get_engine("duckdb", engine_limits(queue))  # bounded as that queue says (limits.py)

An engine whose setting is empty (SCIENCE_POSTGRESQL_URL, SCIENCE_MARIADB_URL,
SPARK_REMOTE) is not available: ``get_engine`` raises EngineError for it.
"""

from __future__ import annotations

import threading

from django.conf import settings

from .base import Engine, EngineError, QueryAborted, QueryTimeout, StoredResult, TableName, mydb_schema
from .duckdb import DuckDBEngine
from .limits import Limits
from .mariadb import MariaDBEngine
from .postgresql import PostgreSQLEngine
from .spark import SparkEngine

__all__ = ["Engine", "EngineError", "Limits", "QueryAborted", "QueryTimeout", "StoredResult", "TableName",
           "available_engines", "default_limits", "get_engine", "mydb_table", "reset_engines"]

_engines: dict[tuple[str, Limits], Engine] = {}
_lock = threading.Lock()


def available_engines() -> list[str]:
    """Names of the engines this portal is configured for (DuckDB always)."""
    names = ["duckdb"]
    if settings.SCIENCE_POSTGRESQL_URL:
        names.append("postgresql")
    if settings.SCIENCE_MARIADB_URL:
        names.append("mariadb")
    if settings.SPARK_REMOTE:
        names.append("spark")
    return names


def default_limits() -> Limits:
    return Limits(**settings.ENGINE_LIMITS)


def get_engine(name: str | None = None, limits: Limits | None = None) -> Engine:
    """The process-wide engine ``name`` (default: settings.DEFAULT_ENGINE) bounded by ``limits``
    (default: settings.ENGINE_LIMITS); one per name and limits."""
    key = (name or settings.DEFAULT_ENGINE, limits or default_limits())
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _lock:
        if key not in _engines:
            if key[0] not in available_engines():
                raise EngineError(f"the {key[0]} engine is not configured on this portal")
            _engines[key] = _create(*key)
        return _engines[key]


def reset_engines() -> None:
    """Forget the created engines (tests that change settings)."""
    with _lock:
        for engine in _engines.values():
            engine.close()
        _engines.clear()


def mydb_table(user_id: int | str, name: str) -> TableName:
    """The TableName of a user's MyDB table on every engine."""
    return TableName(mydb_schema(user_id), name)


def _create(name: str, limits: Limits) -> Engine:
    if name == "duckdb":
        return DuckDBEngine(settings.SCIENCE_DIR, settings.MYDB_DIR, threads=limits.threads or None,
                            memory_limit=limits.memory_limit or None, temp_directory=limits.temp_directory,
                            max_temp_directory_size=limits.max_temp_directory_size)
    if name == "postgresql":
        return PostgreSQLEngine(_with_work_mem(settings.SCIENCE_POSTGRESQL_URL, limits.work_mem),
                                pool_size=settings.SCIENCE_POSTGRESQL_POOL_SIZE)
    if name == "mariadb":
        engine = MariaDBEngine(settings.SCIENCE_MARIADB_URL, installation=settings.SITE_URL)
        if limits.tmp_table_size:  # every connection it opens, whoever it logs in as, starts with these
            size = int(limits.tmp_table_size)
            engine.params["init_command"] = f"SET SESSION tmp_table_size = {size}, max_heap_table_size = {size}"
        return engine
    if name == "spark":
        return SparkEngine(settings.SPARK_REMOTE, settings.SCIENCE_DIR, settings.MYDB_DIR, limits)
    raise EngineError(f"unknown engine {name}")


def _with_work_mem(url: str, work_mem: str) -> str:
    """The connection string with ``-c work_mem=…`` among its options: every session of every role gets it
    (work_mem is a user-settable parameter, so the read-only roles may have it too). A URL stays a URL
    (the ADBC driver wants one)."""
    if not work_mem:
        return url
    option = f"-c work_mem={work_mem}"
    if url.startswith(("postgresql://", "postgres://")):
        from urllib.parse import parse_qsl, quote, urlsplit

        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        query["options"] = f"{query.get('options', '')} {option}".strip()
        encoded = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())  # libpq: %20, not +
        return parts._replace(query=encoded).geturl()
    import psycopg

    params = psycopg.conninfo.conninfo_to_dict(url)
    params["options"] = f"{params.get('options') or ''} {option}".strip()
    return psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]

