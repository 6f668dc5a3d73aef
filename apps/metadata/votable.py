"""A table's metadata as a VOTable with FIELDs and no rows: the sidecar format of Parquet catalogues.

Everything the publisher wrote goes in, so that exporting and importing again
(apps/metadata/actions.py do_import_metadata) loses nothing: FIELD units,
UCDs, utypes and descriptions, the table's DESCRIPTION, and the table-level
fields as INFO elements of the TABLE (:data:`TABLE_INFOS`; lists and objects
as JSON, dates as ISO 8601). Older exports put citation, DOI and licence on
the RESOURCE: those are read too.
"""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Iterable
from typing import Any

from astropy.io.votable.tree import Field, Info, Resource, TableElement, VOTableFile

from .datatypes import votable_type
from .models import Column, Table

TABLE_INFOS = ("title", "utype", "citation", "doi", "licence", "creators", "position_columns", "published_on", "data_updated_on",
               "principal_columns")
_JSON = {"creators", "position_columns", "principal_columns"}
_DATES = {"published_on", "data_updated_on"}


def table_infos(table: Table, columns: Iterable[Column]) -> dict[str, str]:
    """The table-level fields as INFO values (empty ones left out)."""
    values: dict[str, Any] = {key: getattr(table, key) for key in TABLE_INFOS if key != "principal_columns"}
    values["principal_columns"] = [c.name for c in columns if c.principal]
    found = {}
    for key, value in values.items():
        if value in (None, "", []):
            continue
        found[key] = json.dumps(value) if key in _JSON else value.isoformat() if key in _DATES else str(value)
    return found


def parse_infos(infos: dict[str, str]) -> dict[str, Any]:
    """INFO values back into model values; a value that does not parse is named."""
    parsed: dict[str, Any] = {}
    for key in TABLE_INFOS:
        if not infos.get(key):
            continue
        try:
            parsed[key] = json.loads(infos[key]) if key in _JSON else (
                datetime.date.fromisoformat(infos[key]) if key in _DATES else infos[key])
        except ValueError as exc:
            raise ValueError(f"INFO {key}: {infos[key]!r} cannot be read ({exc}).") from None
    return parsed


def metadata_votable(table: Table, columns: Iterable[Column] | None = None) -> bytes:
    vot = VOTableFile()
    resource = Resource()
    vot.resources.append(resource)
    element = TableElement(vot, name=table.name)
    element.description = table.description or None
    cols = list(columns if columns is not None else table.columns.all())
    for c in cols:
        datatype, arraysize, xtype = votable_type(c.datatype, c.arraysize, c.xtype)
        field = Field(vot, name=c.name, datatype=datatype, arraysize=arraysize, xtype=xtype, unit=c.unit or None, ucd=c.ucd or None,
                      utype=c.utype or None)
        field.description = c.description or None
        element.fields.append(field)
    for name, value in table_infos(table, cols).items():
        element.infos.append(Info(name=name, value=value))
    resource.tables.append(element)
    element.create_arrays(0)
    out = io.BytesIO()
    vot.to_xml(out)
    return out.getvalue()
