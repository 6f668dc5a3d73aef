"""One column type: the translator's result columns, the catalogue's columns and what the writers take are ColumnInfo,
and a result column survives the dict form a job stores."""

from __future__ import annotations

from apps.adql import Catalog, ColumnInfo, TableInfo, translate
from apps.adql.catalog import RESULT_FIELDS
from apps.formats.columns import ColumnInfo as WritersColumn

CATALOG = Catalog([TableInfo("gaia", "source", (
    ColumnInfo("ra", "DOUBLE", unit="deg", ucd="pos.eq.ra;meta.main", description="Right ascension", principal=True, indexed=True),
    ColumnInfo("pos", "POINT", "2", "point"),
))])


def test_a_result_column_is_the_catalogue_column_without_its_table_flags() -> None:
    ra, pos = translate("SELECT ra, pos FROM gaia.source", "duckdb", catalog=CATALOG).columns
    assert isinstance(ra, ColumnInfo) and WritersColumn is ColumnInfo
    assert ra == ColumnInfo("ra", "DOUBLE", unit="deg", ucd="pos.eq.ra;meta.main", description="Right ascension")
    assert (pos.datatype, pos.arraysize, pos.xtype) == ("POINT", "2", "point")


def test_a_result_column_survives_the_dict_form_a_job_stores() -> None:
    for column in translate("SELECT ra, pos, 2 * ra AS twice FROM gaia.source", "duckdb", catalog=CATALOG).columns:
        stored = column.as_dict()
        assert tuple(stored) == RESULT_FIELDS  # the eight fields a VOTable FIELD carries, as before
        assert ColumnInfo.from_dict(stored) == column


def test_hand_written_metadata_is_read_leniently() -> None:
    assert ColumnInfo.from_dict({"name": "n", "arraysize": 3, "unit": None}) == ColumnInfo("n", "UNKNOWN", "3")
