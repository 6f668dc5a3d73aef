"""VOUnit, UCD, identifier, DOI and licence checks, with messages a publisher can act on."""

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


DOI = re.compile(r"^10\.\d{4,9}/\S+$")
# SPDX identifiers of the licences data centres use; anything else is given as the licence's URL.
LICENCES = ("CC0-1.0", "CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-NC-4.0", "CC-BY-NC-SA-4.0", "CC-BY-ND-4.0", "CC-BY-NC-ND-4.0",
            "CC-BY-3.0", "CC-BY-SA-3.0", "ODbL-1.0", "ODC-By-1.0", "PDDL-1.0", "etalab-2.0", "OGL-UK-3.0", "MIT", "Apache-2.0",
            "BSD-3-Clause", "GPL-3.0-or-later")


def validate_doi(value: str) -> None:
    """A bare DOI (10.prefix/suffix), as DataCite records and citations want it."""
    if not value:
        return
    if not DOI.match(value):
        bare = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", value.strip(), flags=re.I)
        hint = f" Did you mean {bare!r}?" if DOI.match(bare) else " e.g. '10.5281/zenodo.1234567'."
        raise ValidationError(f"{value!r} is not a DOI: give it bare, starting with '10.' then a slash.{hint}", code="doi")


def validate_licence(value: str) -> None:
    """An SPDX identifier from LICENCES, or the URL of the licence text."""
    if not value:
        return
    from django.core.validators import URLValidator

    if value in LICENCES:
        return
    known = {name.lower(): name for name in LICENCES}
    if value.strip().lower() in known:
        raise ValidationError(f"Write the licence as {known[value.strip().lower()]!r}.", code="licence")
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        raise ValidationError(f"{value!r} is not a licence we know: use one of {', '.join(LICENCES)}, or the URL of its text.",
                              code="licence") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
