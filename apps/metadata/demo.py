"""Demo catalogues for `manage.py demo`: small Gaia-, MaNGA- and ZTF-like tables, published publicly.

They go into the embedded DuckDB engine only, unless the operator names other
engines (``manage.py demo --engines duckdb,postgresql``): a configured science
database is somebody's production data and gets no demo tables by surprise.
``manage.py demo --remove`` deletes them again, data included.
"""

from __future__ import annotations

from typing import Any

from fixtures.generator import TABLES, metadata

from .actions import GAIA_HEALPIX, demo_schema_name, do_delete_table, do_generate_catalogue, do_save_function
from .models import Function, Schema, Table
from .progress import ProgressBar

ROWS = {"small": 20_000, "medium": 1_000_000, "large": 10_000_000}
EMBEDDED = ("duckdb",)


def load_demo(stdout: Any, size: str = "small", engines: tuple[str, ...] = EMBEDDED) -> None:
    rows = ROWS.get(size, ROWS["small"])
    do_save_function(None, **GAIA_HEALPIX)
    for engine in engines:
        if engine == "spark":
            continue  # Spark reads the same Parquet files as DuckDB
        for key in TABLES:
            bar = ProgressBar(stdout, f"demo {engine} {key}")
            table = do_generate_catalogue(None, key, rows=rows, engine=engine, progress=bar)
            bar.finish(table.row_count or 0)


def demo_tables() -> list[Table]:
    """The demo tables of every engine, found by the names the demo gives them."""
    from django.conf import settings

    found = []
    for engine in settings.ENGINES:
        for key in TABLES:
            meta = metadata(key)
            table = Table.objects.select_related("schema").filter(schema__name=demo_schema_name(meta["schema"]["name"], engine),
                                                                  schema__engine=engine, name=meta["table"]["name"]).first()
            if table is not None:
                found.append(table)
    return found


def remove_demo(stdout: Any) -> None:
    """Delete the demo tables with their data, their schemas once empty, and the demo function."""
    for table in demo_tables():
        schema = table.schema
        do_delete_table(None, table, drop_data=True)
        stdout.write(f"Deleted the demo table {schema.name}.{table.name} and its data.\n")
        if not Table.objects.filter(schema=schema).exists():
            Schema.objects.filter(pk=schema.pk).delete()
    Function.objects.filter(name=GAIA_HEALPIX["name"]).delete()
