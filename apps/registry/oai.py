"""OAI-PMH 2.0, the harvesting protocol of the VO Registry (pure Python, no Django).

``respond(params, repository, now)`` answers one request: it checks the verb and its
arguments (every fault is an OAI-PMH ``<error>`` in a 200 answer, as the protocol says),
then one small handler per verb (``HANDLERS``) writes the payload. A repository is
anything with the ``Repository`` shape: its identity, and its records each carrying a
``ri:Resource`` element (VOResource); the ``oai_dc`` form is derived from that element,
so the two formats can never disagree.

Lists are paged with a stateless resumption token (the list's arguments and an offset,
base64), so any worker process can continue a harvest another one started.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from xml.etree import ElementTree as ET

OAI = "http://www.openarchives.org/OAI/2.0/"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
RI = "http://www.ivoa.net/xml/RegistryInterface/v1.0"
VR = "http://www.ivoa.net/xml/VOResource/v1.0"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
for _prefix, _ns in (("oai", OAI), ("oai_dc", OAI_DC), ("dc", DC), ("ri", RI), ("vr", VR), ("xsi", XSI)):
    ET.register_namespace(_prefix, _ns)

FORMATS = {  # metadataPrefix -> (schema, namespace)
    "oai_dc": ("http://www.openarchives.org/OAI/2.0/oai_dc.xsd", OAI_DC),
    "ivo_vor": ("http://www.ivoa.net/xml/RegistryInterface/v1.0", RI),
}
VERBS = {  # verb -> (required arguments, optional arguments); resumptionToken is exclusive where allowed
    "Identify": (set(), set()),
    "ListMetadataFormats": (set(), {"identifier"}),
    "ListSets": (set(), {"resumptionToken"}),
    "ListIdentifiers": ({"metadataPrefix"}, {"from", "until", "set", "resumptionToken"}),
    "ListRecords": ({"metadataPrefix"}, {"from", "until", "set", "resumptionToken"}),
    "GetRecord": ({"identifier", "metadataPrefix"}, set()),
}
DAY, SECONDS = "%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ"


class OAIError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Record:
    identifier: str
    datestamp: dt.datetime  # UTC
    sets: tuple[str, ...]
    deleted: bool
    resource: ET.Element | None  # the ri:Resource; None when deleted


@dataclass(frozen=True)
class Identity:
    name: str
    base_url: str
    admin_emails: tuple[str, ...]
    earliest: dt.datetime
    # The OAI-PMH identity's <description> blocks, e.g. the registry's own ri:Resource (IVOA Registry Interfaces 1.1).
    descriptions: tuple[ET.Element, ...] = ()


class Repository(Protocol):
    def identity(self) -> Identity: ...

    def records(self) -> Sequence[Record]:
        """Every record, deleted ones too, in a stable order (datestamp, then identifier)."""
        ...

    def sets(self) -> Sequence[tuple[str, str]]: ...


@dataclass(frozen=True)
class ListArgs:
    prefix: str
    start: dt.datetime | None
    end: dt.datetime | None
    set_spec: str | None
    offset: int = 0


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime(SECONDS)


def parse_date(value: str, *, end: bool) -> tuple[dt.datetime, str]:
    """A ``from``/``until`` argument and its granularity; a day as ``until`` means the whole day."""
    for fmt in (SECONDS, DAY):
        try:
            parsed = dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
        if fmt == DAY and end:
            parsed += dt.timedelta(days=1) - dt.timedelta(microseconds=1)
        return parsed, fmt
    raise OAIError("badArgument", f"{value!r} is not a UTC date (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ).")


# --- arguments and resumption tokens ---------------------------------------------------------

def _single(params: Mapping[str, Sequence[str]]) -> dict[str, str]:
    args: dict[str, str] = {}
    for name, values in params.items():
        if len(values) != 1:
            raise OAIError("badArgument", f"The argument {name} is repeated.")
        args[name] = values[0]
    return args


def check_arguments(params: Mapping[str, Sequence[str]]) -> tuple[str, dict[str, str]]:
    args = _single(params)
    verb = args.pop("verb", "")
    if verb not in VERBS:
        raise OAIError("badVerb", f"Unknown or missing verb {verb!r}." if verb else "The verb argument is missing.")
    required, optional = VERBS[verb]
    unknown = set(args) - required - optional
    if unknown:
        raise OAIError("badArgument", f"{verb} takes no argument {', '.join(sorted(unknown))}.")
    if "resumptionToken" in args:
        if len(args) > 1:
            raise OAIError("badArgument", "resumptionToken is an exclusive argument.")
        return verb, args
    missing = required - set(args)
    if missing:
        raise OAIError("badArgument", f"{verb} needs {', '.join(sorted(missing))}.")
    return verb, args


def encode_token(args: ListArgs) -> str:
    data = [args.prefix, args.start and stamp(args.start), args.end and args.end.isoformat(), args.set_spec, args.offset]
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def decode_token(token: str) -> ListArgs:
    try:
        prefix, start, end, set_spec, offset = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(offset, int) or offset < 0:
            raise ValueError("bad offset")
        return ListArgs(str(prefix), start and dt.datetime.strptime(start, SECONDS).replace(tzinfo=dt.UTC),
                        end and dt.datetime.fromisoformat(end), set_spec, int(offset))
    except (ValueError, TypeError, binascii.Error, UnicodeError) as exc:
        raise OAIError("badResumptionToken", "The resumption token is not one this repository issued.") from exc


def list_args(args: Mapping[str, str]) -> ListArgs:
    if "resumptionToken" in args:
        return decode_token(args["resumptionToken"])
    start = parse_date(args["from"], end=False) if "from" in args else None
    end = parse_date(args["until"], end=True) if "until" in args else None
    if start and end:
        if start[1] != end[1]:
            raise OAIError("badArgument", "from and until must have the same granularity.")
        if start[0] > end[0]:
            raise OAIError("badArgument", "from is later than until.")
    return ListArgs(args["metadataPrefix"], start and start[0], end and end[0], args.get("set"))


# --- records --------------------------------------------------------------------------------

def _header(parent: ET.Element, record: Record) -> None:
    header = _sub(parent, _q(OAI, "header"), **({"status": "deleted"} if record.deleted else {}))
    _sub(header, _q(OAI, "identifier"), record.identifier)
    _sub(header, _q(OAI, "datestamp"), stamp(record.datestamp))
    for spec in record.sets:
        _sub(header, _q(OAI, "setSpec"), spec)


def dublin_core(resource: ET.Element) -> ET.Element:
    """The oai_dc form of a VOResource record: the fields both standards share."""
    root = ET.Element(_q(OAI_DC, "dc"))
    root.set(_q(XSI, "schemaLocation"), f"{OAI_DC} {FORMATS['oai_dc'][0]}")
    pairs = (("title", "title"), ("identifier", "identifier"), ("content/description", "description"),
             ("curation/creator/name", "creator"), ("content/subject", "subject"), ("curation/publisher", "publisher"),
             ("curation/contributor", "contributor"), ("curation/date", "date"), ("content/type", "type"),
             ("rights", "rights"), ("content/source", "source"), ("content/referenceURL", "relation"))
    for path, name in pairs:
        for element in resource.findall(path):
            if element.text and element.text.strip():
                _sub(root, _q(DC, name), element.text.strip())
    return root


def _record(parent: ET.Element, record: Record, prefix: str) -> None:
    element = _sub(parent, _q(OAI, "record"))
    _header(element, record)
    if record.deleted or record.resource is None:
        return
    metadata = _sub(element, _q(OAI, "metadata"))
    metadata.append(record.resource if prefix == "ivo_vor" else dublin_core(record.resource))


def _selected(repository: Repository, args: ListArgs) -> list[Record]:
    if args.prefix not in FORMATS:
        raise OAIError("cannotDisseminateFormat", f"No metadata format {args.prefix!r}; see ListMetadataFormats.")
    if args.set_spec is not None and args.set_spec not in {spec for spec, _ in repository.sets()}:
        raise OAIError("noRecordsMatch", f"No set {args.set_spec!r}.")
    chosen = [r for r in repository.records()
              if (args.start is None or r.datestamp >= args.start) and (args.end is None or r.datestamp <= args.end)
              and (args.set_spec is None or args.set_spec in r.sets)]
    if not chosen:
        raise OAIError("noRecordsMatch", "No record matches these arguments.")
    return chosen


def _list(root: ET.Element, verb: str, args: Mapping[str, str], repository: Repository, page: int,
          write: Callable[[ET.Element, Record, str], None]) -> None:
    parsed = list_args(args)
    chosen = _selected(repository, parsed)
    if parsed.offset > len(chosen):
        raise OAIError("badResumptionToken", "The resumption token points past the end of the list.")
    element = _sub(root, _q(OAI, verb))
    for record in chosen[parsed.offset:parsed.offset + page]:
        write(element, record, parsed.prefix)
    following = parsed.offset + page
    if following < len(chosen) or "resumptionToken" in args:
        token = ListArgs(parsed.prefix, parsed.start, parsed.end, parsed.set_spec, following)
        _sub(element, _q(OAI, "resumptionToken"), encode_token(token) if following < len(chosen) else "",
             completeListSize=str(len(chosen)), cursor=str(parsed.offset))


# --- verbs ------------------------------------------------------------------------------------

def _identify(root: ET.Element, args: Mapping[str, str], repository: Repository, page: int) -> None:
    identity = repository.identity()
    element = _sub(root, _q(OAI, "Identify"))
    _sub(element, _q(OAI, "repositoryName"), identity.name)
    _sub(element, _q(OAI, "baseURL"), identity.base_url)
    _sub(element, _q(OAI, "protocolVersion"), "2.0")
    for email in identity.admin_emails:
        _sub(element, _q(OAI, "adminEmail"), email)
    _sub(element, _q(OAI, "earliestDatestamp"), stamp(identity.earliest))
    _sub(element, _q(OAI, "deletedRecord"), "persistent")
    _sub(element, _q(OAI, "granularity"), "YYYY-MM-DDThh:mm:ssZ")
    for description in identity.descriptions:
        _sub(element, _q(OAI, "description")).append(description)


def _formats(root: ET.Element, args: Mapping[str, str], repository: Repository, page: int) -> None:
    if "identifier" in args and args["identifier"] not in {r.identifier for r in repository.records()}:
        raise OAIError("idDoesNotExist", f"No record {args['identifier']!r}.")
    element = _sub(root, _q(OAI, "ListMetadataFormats"))
    for prefix, (schema, namespace) in FORMATS.items():
        fmt = _sub(element, _q(OAI, "metadataFormat"))
        _sub(fmt, _q(OAI, "metadataPrefix"), prefix)
        _sub(fmt, _q(OAI, "schema"), schema)
        _sub(fmt, _q(OAI, "metadataNamespace"), namespace)


def _sets(root: ET.Element, args: Mapping[str, str], repository: Repository, page: int) -> None:
    if "resumptionToken" in args:
        raise OAIError("badResumptionToken", "The list of sets is never split.")
    element = _sub(root, _q(OAI, "ListSets"))
    for spec, name in repository.sets():
        entry = _sub(element, _q(OAI, "set"))
        _sub(entry, _q(OAI, "setSpec"), spec)
        _sub(entry, _q(OAI, "setName"), name)


def _identifiers(root: ET.Element, args: Mapping[str, str], repository: Repository, page: int) -> None:
    _list(root, "ListIdentifiers", args, repository, page, lambda parent, record, prefix: _header(parent, record))


def _records(root: ET.Element, args: Mapping[str, str], repository: Repository, page: int) -> None:
    _list(root, "ListRecords", args, repository, page, _record)


def _get_record(root: ET.Element, args: Mapping[str, str], repository: Repository, page: int) -> None:
    if args["metadataPrefix"] not in FORMATS:
        raise OAIError("cannotDisseminateFormat", f"No metadata format {args['metadataPrefix']!r}.")
    for record in repository.records():
        if record.identifier == args["identifier"]:
            _record(_sub(root, _q(OAI, "GetRecord")), record, args["metadataPrefix"])
            return
    raise OAIError("idDoesNotExist", f"No record {args['identifier']!r}.")


HANDLERS: dict[str, Callable[[ET.Element, Mapping[str, str], Repository, int], None]] = {
    "Identify": _identify, "ListMetadataFormats": _formats, "ListSets": _sets,
    "ListIdentifiers": _identifiers, "ListRecords": _records, "GetRecord": _get_record,
}


def respond(params: Mapping[str, Sequence[str]], repository: Repository, now: dt.datetime, *, page: int = 50) -> bytes:
    """The OAI-PMH answer to one request's arguments (``verb`` among them)."""
    root = ET.Element(_q(OAI, "OAI-PMH"))
    root.set(_q(XSI, "schemaLocation"), f"{OAI} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd")
    _sub(root, _q(OAI, "responseDate"), stamp(now))
    request = _sub(root, _q(OAI, "request"), repository.identity().base_url)
    try:
        verb, args = check_arguments(params)
        for name, value in {"verb": verb, **args}.items():
            request.set(name, value)
        HANDLERS[verb](root, args, repository, page)
    except OAIError as exc:
        # An answer with an error keeps only responseDate, request (without arguments if they were bad), error.
        for child in list(root)[2:]:
            root.remove(child)
        if exc.code in ("badVerb", "badArgument"):
            request.attrib.clear()
        _sub(root, _q(OAI, "error"), str(exc), code=exc.code)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
