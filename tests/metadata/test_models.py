"""Model validation: bad units and UCDs are refused with a message and never stored."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.metadata.actions import do_create_table
from apps.metadata.models import Column, Table
from apps.metadata.validators import validate_ucd, validate_vounit
from tests.conftest import FourUsers

from .conftest import COLUMNS, make_table


@pytest.mark.parametrize("unit", ["deg", "mas/yr", "mag", "km/s", "1e-17erg.s**-1.cm**-2", "Angstrom", "d", ""])
def test_it_accepts_vounits(unit: str) -> None:
    validate_vounit(unit)


@pytest.mark.parametrize("unit", ["degrees per year", "foo", "erg/s/cm**2/Angstrom"])
def test_it_refuses_a_bad_unit_with_a_message(unit: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate_vounit(unit)
    assert "not a valid VOUnit" in exc.value.messages[0] and unit in exc.value.messages[0]


@pytest.mark.parametrize("ucd", ["pos.eq.ra;meta.main", "phot.mag;em.opt.V", "stat.error;pos.pm;pos.eq.ra", "phot.flux;em.line.Halpha"])
def test_it_accepts_ucds(ucd: str) -> None:
    validate_ucd(ucd)


@pytest.mark.parametrize("ucd", ["foo.bar", "em.opt", "pos.eq.ra;;", "POS EQ RA"])
def test_it_refuses_a_bad_ucd_with_a_message(ucd: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate_ucd(ucd)
    assert "not a valid UCD" in exc.value.messages[0]


def test_a_column_with_a_bad_unit_is_never_stored(users: FourUsers, science: object) -> None:
    table = make_table(users)
    with pytest.raises(ValidationError, match="VOUnit"):
        Column.objects.create(table=table, name="bad", unit="furlongs/fortnight")
    with pytest.raises(ValidationError, match="UCD"):
        Column.objects.create(table=table, name="bad", ucd="not.a.ucd")
    assert not table.columns.filter(name="bad").exists()


def test_creating_a_table_with_a_bad_ucd_names_the_column(users: FourUsers, science: object) -> None:
    schema = make_table(users).schema
    bad = [*COLUMNS, {"name": "flux", "ucd": "phot.fluxx"}]
    with pytest.raises(ValidationError) as exc:
        do_create_table(users.owner, schema, "other", columns=bad)
    assert "Column flux" in exc.value.messages[0]
    assert not Table.objects.filter(name="other").exists()


def test_it_refuses_names_that_are_not_identifiers(users: FourUsers, science: object) -> None:
    schema = make_table(users).schema
    with pytest.raises(ValidationError, match="not a valid name"):
        do_create_table(users.owner, schema, "drop table;")


def test_creators_and_position_columns_are_checked(users: FourUsers, science: object) -> None:
    table = make_table(users)
    table.creators = [{"affiliation": "nowhere"}]
    with pytest.raises(ValidationError, match="name"):
        table.full_clean()
    table.creators = [{"name": "Doe, Jane"}]
    table.position_columns = ["ra", "nodec"]
    with pytest.raises(ValidationError, match="nodec"):
        table.full_clean()


def test_position_columns_are_found_from_ucds(users: FourUsers, science: object) -> None:
    assert make_table(users).position_columns == ["ra", "dec"]


def test_only_publishers_may_create_tables(users: FourUsers, science: object) -> None:
    from django.core.exceptions import PermissionDenied

    schema = make_table(users).schema
    with pytest.raises(PermissionDenied):
        do_create_table(users.outsider, schema, "mine")
