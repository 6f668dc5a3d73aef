"""Load the sky libraries once when a web or worker process starts.

mocpy (HEALPix covers of ADQL regions, apps/adql/pruning.py) and astropy's
units and coordinates (VOUnit checks, apps/adql/units.py) take 2-4 s to
import; loaded lazily, the first positional query of every process paid
that. ``daiquiri/asgi.py`` and the Celery ``worker_init`` call
``preload_sky_libraries`` (before the worker forks its children, so they
inherit the modules); management commands and tests do not need it.
"""

from __future__ import annotations


def preload_sky_libraries() -> None:
    """Import, and use once, what the first cone or polygon query would otherwise load."""
    import astropy.units as u
    from astropy.coordinates import Angle, Latitude, Longitude
    from mocpy import MOC

    u.Unit("deg", format="vounit")  # builds the VOUnit parser
    MOC.from_cone(lon=Longitude(0 * u.deg), lat=Latitude(0 * u.deg), radius=Angle(1 * u.deg), max_depth=8)
