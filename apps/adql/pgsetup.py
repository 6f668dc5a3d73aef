"""Install the PostgreSQL extensions the translation uses (pg_sphere, q3c).

Debian's pg_sphere 1.2.0 script fails on PostgreSQL 15 with "commutator
operator @> is already the commutator of operator <@": two DaCHS-compatibility
``@`` operators on ``smoc`` clash. When CREATE EXTENSION fails that way we run
the packaged script without those two operators (the ones ADQL needs are
unaffected); the objects then belong to no extension, which is harmless here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_CLASHING = re.compile(r"CREATE OPERATOR @ \(\s*LEFTARG\s*=\s*(?:bigint|spoint),\s*RIGHTARG\s*=\s*smoc,"
                       r"[^;]*;")


def patched_pg_sphere_script(sharedir: str) -> str:
    """The packaged pg_sphere script, runnable outside CREATE EXTENSION."""
    ext = Path(sharedir) / "extension"
    control = (ext / "pg_sphere.control").read_text()
    version = re.search(r"default_version\s*=\s*'([^']+)'", control)
    if version is None:
        raise RuntimeError("cannot find pg_sphere's default version")
    script = (ext / f"pg_sphere--{version.group(1)}.sql").read_text()
    script = script.replace("MODULE_PATHNAME", "$libdir/pg_sphere")
    script = re.sub(r"^\\echo.*$", "", script, flags=re.M)
    return _CLASHING.sub("", script)


def ensure_extensions(conn: Any) -> None:
    """Create q3c and pg_sphere in the connected database (an autocommit psycopg connection)."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS q3c")
    if conn.execute("SELECT 1 FROM pg_type WHERE typname = 'spoint'").fetchone():
        return
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_sphere")
    except Exception as exc:  # psycopg's error classes are not imported here
        if "commutator" not in str(exc):
            raise
        sharedir = conn.execute("SELECT setting FROM pg_config WHERE name = 'SHAREDIR'").fetchone()[0]
        conn.execute(patched_pg_sphere_script(sharedir))
