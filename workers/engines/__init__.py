"""Query engines behind one small interface (``base.Engine``).

    from workers.engines import get_engine, available_engines
    engine = get_engine()              # settings.DEFAULT_ENGINE
    engine = get_engine("postgresql")  # created once per process, then reused

An engine whose setting is empty (SCIENCE_POSTGRESQL_URL, SCIENCE_MARIADB_URL,
SPARK_REMOTE) is not available: ``get_engine`` raises EngineError for it.
"""

from __future__ import annotations

import threading

from django.conf import settings

from .base import Engine, EngineError, QueryAborted, QueryTimeout, StoredResult, TableName

__all__ = ["Engine", "EngineError", "QueryAborted", "QueryTimeout", "StoredResult", "TableName",
           "available_engines", "get_engine", "mydb_table", "reset_engines"]

_engines: dict[str, Engine] = {}
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


def get_engine(name: str | None = None) -> Engine:
    """The process-wide engine ``name`` (default: settings.DEFAULT_ENGINE)."""
    name = name or settings.DEFAULT_ENGINE
    engine = _engines.get(name)
    if engine is not None:
        return engine
    with _lock:
        if name not in _engines:
            if name not in available_engines():
                raise EngineError(f"the {name} engine is not configured on this portal")
            _engines[name] = _create(name)
        return _engines[name]


def reset_engines() -> None:
    """Forget the created engines (tests that change settings)."""
    with _lock:
        for engine in _engines.values():
            close = getattr(engine, "close", None)
            if close is not None:
                close()
        _engines.clear()


def mydb_table(user_id: int | str, name: str) -> TableName:
    """The TableName of a user's MyDB table on every engine."""
    return TableName(f"mydb_{user_id}", name)


def _create(name: str) -> Engine:
    if name == "duckdb":
        from .duckdb import DuckDBEngine

        return DuckDBEngine(settings.SCIENCE_DIR, settings.MYDB_DIR)
    if name == "postgresql":
        from .postgresql import PostgreSQLEngine

        return PostgreSQLEngine(settings.SCIENCE_POSTGRESQL_URL)
    if name == "mariadb":
        from .mariadb import MariaDBEngine

        return MariaDBEngine(settings.SCIENCE_MARIADB_URL, installation=settings.SITE_URL)
    if name == "spark":
        from .spark import SparkEngine

        return SparkEngine(settings.SPARK_REMOTE, settings.SCIENCE_DIR, settings.MYDB_DIR)
    raise EngineError(f"unknown engine {name}")
