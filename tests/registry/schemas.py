"""Validate registry records against the IVOA schemas of ../shared/conformance/ivoa-xsd (VOResource,
VODataService, TAPRegExt), with stubs here for ri:Resource and the VORegistry types (see stubs/)."""

from __future__ import annotations

import functools
import pathlib

from lxml import etree

from tests.uws.schemas import NAMESPACES, _Local, xsd_dir

STUBS = pathlib.Path(__file__).resolve().parent / "stubs"
EXTRA = {"http://www.ivoa.net/xml/RegistryInterface/v1.0": STUBS / "RegistryInterface.xsd",
         "http://www.ivoa.net/xml/VORegistry/v1.0": STUBS / "VORegistry.xsd"}


@functools.cache
def validator() -> etree.XMLSchema:
    locations = {ns: (xsd_dir() / name).as_uri() for ns, name in NAMESPACES.items()}
    locations.update({ns: path.as_uri() for ns, path in EXTRA.items()})
    imports = "".join(f'<xs:import namespace="{ns}" schemaLocation="{uri}"/>' for ns, uri in locations.items())
    driver = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:test-driver">{imports}</xs:schema>'
    parser = etree.XMLParser()
    parser.resolvers.add(_Local())
    return etree.XMLSchema(etree.fromstring(driver.encode(), parser, base_url=str(xsd_dir()) + "/"))


def assert_valid_record(element: etree._Element) -> None:
    """One ri:Resource, on its own, as a registry would store it."""
    document = etree.fromstring(etree.tostring(element))
    schema = validator()
    if not schema.validate(document):
        errors = "\n".join(f"line {e.line}: {e.message}" for e in schema.error_log)
        raise AssertionError(f"{element.findtext('identifier')} is not valid:\n{errors}\n{etree.tostring(element)[:3000]!r}")
