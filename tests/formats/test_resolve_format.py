"""RESPONSEFORMAT/FORMAT values as TAP clients send them."""

from __future__ import annotations

import pytest

from apps.formats import FORMATS, UnknownFormat, resolve_format


@pytest.mark.parametrize(("value", "key"), [
    (None, "votable"), ("", "votable"), ("votable", "votable"), ("VOTable", "votable"),
    ("application/x-votable+xml", "votable"), ("text/xml", "votable"),
    ("application/x-votable+xml;serialization=TABLEDATA", "votable-td"),
    ("application/x-votable+xml; serialization=tabledata", "votable-td"),
    ("application/x-votable+xml;serialization=BINARY", "votable-b"),
    ("application/x-votable+xml ; serialization = \"BINARY2\"", "votable-b2"),
    ("votable/td", "votable-td"), ("votable/b2", "votable-b2"),
    ("text/csv", "csv"), ("csv", "csv"), ("text/csv;header=present", "csv"),
    ("text/tab-separated-values", "tsv"), ("tsv", "tsv"),
    ("application/fits", "fits"), ("fits", "fits"),
    ("application/vnd.apache.parquet", "parquet"), ("parquet", "parquet"),
])
def test_it_resolves_tap_format_values(value: str | None, key: str) -> None:
    assert resolve_format(value) is FORMATS[key]


def test_every_format_resolves_from_its_own_mime_type_and_key() -> None:
    for key, fmt in FORMATS.items():
        assert resolve_format(fmt.mime_type).mime_type == fmt.mime_type
        assert resolve_format(key) is fmt


@pytest.mark.parametrize("value", ["application/yaml", "text/csv;header=absent", "application/x-votable+xml;serialization=FITS", "xls"])
def test_it_rejects_unknown_formats_listing_the_accepted_ones(value: str) -> None:
    with pytest.raises(UnknownFormat) as error:
        resolve_format(value)
    assert isinstance(error.value, ValueError)
    assert "text/csv" in str(error.value) and "application/x-votable+xml" in str(error.value)
