"""DataLink 1.1 documents (pure Python, no Django): the {links} table and the service descriptor of results.

``links_document(rows)`` writes the links VOTable (the standard's columns, in its
order, with their UCDs); ``service_descriptor(...)`` writes the
``RESOURCE type="meta" utype="adhoc:service"`` a result VOTable carries so clients
(TOPCAT's Activation actions, pyvo's ``iter_datalinks``) know where a row's links are.
``fill(template, kind, id)`` puts an identifier into a link template safely.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

LINKS_STANDARD = "ivo://ivoa.net/std/DataLink#links-1.1"
CONTENT_TYPE = "application/x-votable+xml;content=datalink"
NAMESPACE = "http://www.ivoa.net/xml/VOTable/v1.3"
# (name, datatype, arraysize, ucd, unit) as DataLink 1.1 section 3.2 lists them.
FIELDS = (
    ("ID", "char", "*", "meta.id;meta.main", ""),
    ("access_url", "char", "*", "meta.ref.url", ""),
    ("service_def", "char", "*", "meta.ref", ""),
    ("error_message", "char", "*", "meta.code.error", ""),
    ("semantics", "char", "*", "meta.code", ""),
    ("description", "char", "*", "meta.note", ""),
    ("content_type", "char", "*", "meta.code.mime", ""),
    ("content_length", "long", "", "phys.size;meta.file", "byte"),
    ("content_qualifier", "char", "*", "meta.code.class", ""),
    ("local_semantics", "char", "*", "meta.code", ""),
    ("link_auth", "char", "*", "meta.code", ""),
    ("link_authorized", "boolean", "", "meta.code", ""),
)


@dataclass(frozen=True)
class Link:
    id: str
    access_url: str = ""
    error_message: str = ""
    semantics: str = "#auxiliary"
    description: str = ""
    content_type: str = ""
    content_length: int | None = None
    content_qualifier: str = ""
    link_auth: str = "false"  # false, optional, true
    link_authorized: bool | None = None


def adql_literal(value: str) -> str:
    """An identifier as ADQL sees it: a number stays a number, anything else becomes a quoted string."""
    try:
        int(value)
        return value
    except ValueError:
        return "'" + value.replace("'", "''") + "'"


def fill(template: str, kind: str, identifier: str) -> str:
    if kind == "tap":
        return template.replace("{id}", adql_literal(identifier))
    return template.replace("{id}", urllib.parse.quote(identifier, safe=""))


def _cell(value: object) -> str:
    if value is None or value == "":
        return "<TD/>"
    if isinstance(value, bool):
        return f"<TD>{'true' if value else 'false'}</TD>"
    text = "".join(ch if ch in "\t\n\r" or ch >= " " else "?" for ch in str(value))
    return f"<TD>{escape(text)}</TD>"


def _field(name: str, datatype: str, arraysize: str, ucd: str, unit: str) -> str:
    attrs = f' name="{name}" datatype="{datatype}" ucd="{ucd}"'
    attrs += f' arraysize="{arraysize}"' if arraysize else ""
    attrs += f' unit="{unit}"' if unit else ""
    return f"<FIELD{attrs}/>"


def links_document(links: Sequence[Link], infos: Sequence[tuple[str, str]] = ()) -> bytes:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n',
             f'<VOTABLE version="1.3" xmlns="{NAMESPACE}">\n<RESOURCE type="results">\n',
             '<INFO name="standardID" value="ivo://ivoa.net/std/DataLink#links-1.1"/>\n']
    parts += [f"<INFO name={quoteattr(k)} value={quoteattr(v)}/>\n" for k, v in infos]
    parts.append("<TABLE>\n")
    parts += [_field(*f) + "\n" for f in FIELDS]
    parts.append("<DATA><TABLEDATA>\n")
    for link in links:
        values = (link.id, link.access_url, "", link.error_message, link.semantics, link.description, link.content_type,
                  link.content_length, link.content_qualifier, "", link.link_auth, link.link_authorized)
        parts.append("<TR>" + "".join(_cell(v) for v in values) + "</TR>\n")
    parts.append("</TABLEDATA></DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n")
    return "".join(parts).encode("utf-8")


def service_descriptor(access_url: str, field_id: str, datatype: str, arraysize: str = "", name: str = "links") -> str:
    """The DataLink service descriptor of a result whose FIELD ``field_id`` holds the rows' identifiers."""
    size = f' arraysize="{arraysize}"' if arraysize else ""
    return (f'<RESOURCE type="meta" utype="adhoc:service" name={quoteattr(name)}>\n'
            f'<PARAM name="standardID" datatype="char" arraysize="*" value="{LINKS_STANDARD}"/>\n'
            f'<PARAM name="accessURL" datatype="char" arraysize="*" value={quoteattr(access_url)}/>\n'
            '<GROUP name="inputParams">\n'
            f'<PARAM name="ID" datatype={quoteattr(datatype)}{size} ucd="meta.id;meta.main" ref={quoteattr(field_id)} value=""/>\n'
            "</GROUP>\n</RESOURCE>\n")
