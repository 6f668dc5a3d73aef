"""VOUnit, UCD and identifier checks, with messages a publisher can act on."""

from __future__ import annotations

import re
import warnings

from django.core.exceptions import ValidationError

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def validate_identifier(value: str) -> None:
    """Schema, table and column names: regular ADQL identifiers, usable unquoted."""
    if not IDENTIFIER.match(value):
        raise ValidationError(
            f"{value!r} is not a valid name: start with a letter, then letters, digits or underscores.", code="identifier"
        )


def validate_vounit(value: str) -> None:
    """An IVOA VOUnit string (astropy's vounit parser); empty means dimensionless/unknown."""
    if not value:
        return
    from astropy import units as u

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated units (erg, Angstrom) are still legal VOUnits
            u.Unit(value, format="vounit", parse_strict="raise")
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"{value!r} is not a valid VOUnit ({_first_line(exc)}); e.g. 'deg', 'mas/yr', 'mag', 'erg.s**-1.cm**-2'.",
                              code="vounit") from None


def validate_ucd(value: str) -> None:
    """A UCD1+ string checked against the controlled vocabulary (astropy)."""
    if not value:
        return
    from astropy.io.votable.ucd import check_ucd, parse_ucd

    try:
        parse_ucd(value, check_controlled_vocabulary=True, has_colon=True)
    except ValueError as exc:
        raise ValidationError(f"{value!r} is not a valid UCD ({_first_line(exc)}); e.g. 'pos.eq.ra;meta.main', 'phot.mag;em.opt.V'.",
                              code="ucd") from None
    if not check_ucd(value, check_controlled_vocabulary=True, has_colon=True):
        raise ValidationError(f"{value!r} is not a valid UCD.", code="ucd")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
