"""A table's metadata as a VOTable with FIELDs and no rows: the sidecar format of Parquet catalogues."""

from __future__ import annotations

import io
from collections.abc import Iterable

from astropy.io.votable.tree import Field, Info, Resource, TableElement, VOTableFile

from .datatypes import votable_type
from .models import Column, Table


def metadata_votable(table: Table, columns: Iterable[Column] | None = None) -> bytes:
    vot = VOTableFile()
    resource = Resource()
    vot.resources.append(resource)
    element = TableElement(vot, name=table.name)
    element.description = table.description or table.title or None
    for c in columns if columns is not None else table.columns.all():
        datatype, arraysize, xtype = votable_type(c.datatype, c.arraysize, c.xtype)
        field = Field(vot, name=c.name, datatype=datatype, arraysize=arraysize, xtype=xtype, unit=c.unit or None, ucd=c.ucd or None,
                      utype=c.utype or None)
        field.description = c.description or None
        element.fields.append(field)
    for name, value in (("citation", table.citation), ("doi", table.doi), ("licence", table.licence)):
        if value:
            resource.infos.append(Info(name=name, value=value))
    resource.tables.append(element)
    element.create_arrays(0)
    out = io.BytesIO()
    vot.to_xml(out)
    return out.getvalue()
