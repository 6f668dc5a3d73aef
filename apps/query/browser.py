"""The schema browser and example queries of the query page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User

from apps.adql import TableInfo
from apps.metadata import examples

from .planning import mydb_jobs, mydb_table, science_catalog, shared_tables


@dataclass(frozen=True)
class BrowserSchema:
    name: str
    tables: list[TableInfo]


def schema_browser(user: User | AnonymousUser) -> list[BrowserSchema]:
    """Every table the user may query, grouped by schema; MyDB last."""
    owner = user if user.is_authenticated else None
    mydb = [mydb_table(j) for j in mydb_jobs(owner)]  # type: ignore[arg-type]
    mydb += [info for _, info in shared_tables(user).values()]  # others' results shared with this user
    catalog = science_catalog(user, mydb)
    schemas: dict[str, list[TableInfo]] = {}
    for table in catalog.tables:
        schemas.setdefault(table.schema, []).append(table)
    order = sorted(schemas, key=lambda s: (s.lower() == "mydb", s.lower().startswith("mydb_"), s.upper() == "TAP_SCHEMA", s.lower()))
    return [BrowserSchema(s, sorted(schemas[s], key=lambda t: t.name.lower())) for s in order]


def _column(table: TableInfo, *ucds: str, names: tuple[str, ...] = ()) -> str | None:
    for c in table.columns:
        if any(c.ucd.lower().startswith(u) for u in ucds) or c.name.lower() in names:
            return c.name
    return None


def examples_for(browser: list[BrowserSchema]) -> list[dict[str, Any]]:
    """A few ADQL examples built from the tables this user can see."""
    science = [t for s in browser if s.name.upper() != "TAP_SCHEMA" and not s.name.lower().startswith("mydb") for t in s.tables]
    found: list[dict[str, Any]] = []
    if science:
        t = science[0]
        found.append({"title": f"The first rows of {t.schema}.{t.name}", "query": examples.first_rows(examples.table_ref(t.schema, t.name))})
    for t in science:
        ra = _column(t, "pos.eq.ra;meta.main", "pos.eq.ra", names=("ra", "raj2000"))
        dec = _column(t, "pos.eq.dec;meta.main", "pos.eq.dec", names=("dec", "dej2000"))
        if ra and dec:
            name = examples.table_ref(t.schema, t.name)
            found.append({"title": f"Cone search: 5° around (ra, dec) = (180°, 0°) in {t.name}",
                          "query": examples.cone_search(name, ra, dec, 180, 0, 5)})
            found.append({"title": f"Count the sources of {t.name} per 10° of declination",
                          "query": examples.histogram(name, dec, 10)})
            break
    found.append({"title": "Tables you may query (TAP_SCHEMA)", "query": examples.TAP_SCHEMA_TABLES})
    return found
