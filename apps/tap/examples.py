"""The DALI examples of the TAP service, made from the published metadata so they always run."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User

from apps.metadata.catalog import tables_with_columns
from apps.metadata.examples import cone_search, first_rows, table_ref


@dataclass(frozen=True)
class Example:
    id: str
    name: str
    description: str
    query: str
    tables: tuple[str, ...] = ()


GENERIC = [
    Example("tap-schema-tables", "The tables of this service",
            "List every table you may query, from the TAP_SCHEMA metadata.",
            "SELECT table_name, description FROM TAP_SCHEMA.tables ORDER BY table_name",
            ("TAP_SCHEMA.tables",)),
    Example("tap-schema-columns", "Columns with units and UCDs",
            "The columns of all tables, with their units and UCDs.",
            "SELECT TOP 100 table_name, column_name, datatype, unit, ucd FROM TAP_SCHEMA.columns",
            ("TAP_SCHEMA.columns",)),
]


def examples_for(user: User | AnonymousUser) -> list[Example]:
    found = list(GENERIC)
    for table in tables_with_columns(user, "read"):
        name = table.qualified_name
        slug = name.replace(".", "-").replace("_", "-").lower()
        ref = table_ref(table.schema.name, table.name)
        found.append(Example(f"{slug}-top", f"The first rows of {name}", table.description or table.title or name,
                             first_rows(ref), (name,)))
        if table.position_columns:
            ra, dec = table.position_columns
            found.append(Example(
                f"{slug}-cone", f"A cone search in {name}",
                "Objects within 1 degree of a position, nearest first; geometry functions in ADQL.",
                cone_search(ref, ra, dec, 10.0, 20.0, 1.0), (name,)))
    return found
