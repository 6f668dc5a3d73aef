"""ECSV and the Gaia archive's JSON, read back as astropy and astroquery read them."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
from astropy.table import Table

from apps.adql import ColumnInfo as Column

from .conftest import render


def test_astropy_reads_ecsv_back_with_types_units_and_nulls() -> None:
    t = Table.read(io.BytesIO(render("ecsv")), format="ascii.ecsv")
    assert {n: t[n].dtype.kind for n in ("id", "n_obs", "quality", "ra", "mag", "variable")} == \
        {"id": "i", "n_obs": "i", "quality": "i", "ra": "f", "mag": "f", "variable": "b"}
    assert (t["id"].dtype, t["n_obs"].dtype, t["quality"].dtype, t["mag"].dtype) == \
        (np.dtype("int64"), np.dtype("int32"), np.dtype("int16"), np.dtype("float32"))
    assert list(t["id"].filled(-1)) == [1, 2, -1, 2**40, 5]
    assert str(t["ra"].unit) == "deg" and t["ra"].description == "Right ascension (ICRS)"
    assert t["ra"].meta["ucd"] == "pos.eq.ra;meta.main" and t["ra"].mask[1]
    assert list(t["variable"][:2]) == [True, False] and t["variable"].mask[2]
    assert t["name"][1] == "a <b> & 'c' \"d\"" and t["name"][4] == "tab\there"
    assert list(t["pos"][0]) == [10.5, 41.25] and t["pos"].shape == (5, 2)  # a POINT is a float64[2]
    assert list(t["footprint"][2]) == [10, 10, 11, 10, 11, 11, 10, 11]


def test_it_writes_json_in_the_gaia_archives_shape() -> None:
    document = json.loads(render("json"))
    names = [m["name"] for m in document["metadata"]]
    assert names[:4] == ["id", "n_obs", "quality", "ra"]
    ra = document["metadata"][3]
    assert (ra["datatype"], ra["unit"], ra["ucd"]) == ("double", "deg", "pos.eq.ra;meta.main")
    rows = document["data"]
    assert len(rows) == 5 and rows[0][0] == 1 and rows[2][3] is None  # NaN: null
    assert rows[0][names.index("pos")] == [10.5, 41.25] and rows[1][names.index("variable")] is False


def test_json_of_several_batches_and_of_none_stays_one_document() -> None:
    batches = [pa.record_batch({"n": pa.array([i, i + 1])}) for i in (0, 2, 4)]
    assert json.loads(render("json", batches, [Column("n", "INTEGER")]))["data"] == [[0], [1], [2], [3], [4], [5]]
    assert json.loads(render("json", [], [Column("n", "INTEGER")]))["data"] == []


def test_astroquery_reads_the_json_as_a_table(tmp_path: object) -> None:
    from astroquery.utils.tap.model.modelutils import read_results_table_from_file

    path = f"{tmp_path}/result.json"
    with open(path, "wb") as f:
        f.write(render("json"))
    t = read_results_table_from_file(path, "json")
    assert len(t) == 5 and str(t["ra"].unit) == "deg" and t["id"][3] == 2**40
