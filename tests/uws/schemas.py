"""Validate XML documents against the IVOA schemas (UWS, VOSI, TAPRegExt, VOResource, VODataService).

The schemas live outside the project in ../shared/conformance/ivoa-xsd/ (see its
README); their remote schemaLocations are mapped to those files here, and the
two schemas they import that are not kept there (XLink, STC) to small stubs.
"""

from __future__ import annotations

import functools
import pathlib

from lxml import etree

ROOT = pathlib.Path(__file__).resolve().parents[2]
STUBS = pathlib.Path(__file__).resolve().parent / "stubs"
NAMESPACES: dict[str, str | pathlib.Path] = {
    "http://www.ivoa.net/xml/UWS/v1.0": "UWS.xsd",
    "http://www.ivoa.net/xml/VOResource/v1.0": "VOResource-v1.3.xsd",
    "http://www.ivoa.net/xml/VODataService/v1.1": "VODataService-v1.3.xsd",
    "http://www.ivoa.net/xml/TAPRegExt/v1.0": "TAPRegExt-v1.1.xsd",
    "http://www.ivoa.net/xml/VOSICapabilities/v1.0": "VOSICapabilities-v1.0.xsd",
    "http://www.ivoa.net/xml/VOSIAvailability/v1.0": "VOSIAvailability-v1.0.xsd",
    "http://www.ivoa.net/xml/VOSITables/v1.0": "VOSITables-v1.1.xsd",
    "http://www.ivoa.net/xml/VOSI/v1.0": "VOSI-v1.0.xsd",
    "http://esa.int/xml/EsaTapPlus": ROOT / "apps" / "tap" / "esatapplus.xsd",  # astroquery's column flags
}
# The last path segment of a remote schemaLocation -> the local file.
BY_NAME = {
    "xlink.xsd": STUBS / "xlink.xsd",
    "stc-v1.30.xsd": STUBS / "stc.xsd",
    "VOResource-v1.0.xsd": "VOResource-v1.3.xsd",
    "v1.0": "VOResource-v1.3.xsd",  # http://www.ivoa.net/xml/VOResource/v1.0
    "v1.1": "VODataService-v1.3.xsd",  # http://www.ivoa.net/xml/VODataService/v1.1
}


def xsd_dir() -> pathlib.Path:
    for candidate in (ROOT.parent / "shared" / "conformance" / "ivoa-xsd", pathlib.Path("/work/shared/conformance/ivoa-xsd")):
        if (candidate / "UWS.xsd").exists():
            return candidate
    raise FileNotFoundError("The IVOA schemas (../shared/conformance/ivoa-xsd) are missing.")


class _Local(etree.Resolver):
    def resolve(self, url: str, pubid: str | None, context: object) -> object:
        if url.startswith("file:"):
            return None
        target = BY_NAME.get(url.rstrip("/").rsplit("/", 1)[-1])
        if target is None:
            return None
        path = target if isinstance(target, pathlib.Path) else xsd_dir() / target
        return self.resolve_filename(str(path), context)


@functools.cache
def validator() -> etree.XMLSchema:
    imports = "".join(
        f'<xs:import namespace="{ns}" schemaLocation="{(xsd_dir() / name).as_uri()}"/>'
        for ns, name in NAMESPACES.items()
    )
    driver = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:test-driver">{imports}</xs:schema>'
    parser = etree.XMLParser()
    parser.resolvers.add(_Local())
    return etree.XMLSchema(etree.fromstring(driver.encode(), parser, base_url=str(xsd_dir()) + "/"))


def assert_valid(document: bytes) -> etree._Element:
    """Parse and validate; fail with the schema's complaints."""
    tree = etree.fromstring(document)
    schema = validator()
    if not schema.validate(tree):
        errors = "\n".join(f"line {e.line}: {e.message}" for e in schema.error_log)
        raise AssertionError(f"Not valid against the IVOA schemas:\n{errors}\n{document[:3000]!r}")
    return tree
