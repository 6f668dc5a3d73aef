"""Demo jobs for `manage.py demo`: a few of Alice's queries on the demo catalogues, queued for the worker."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from . import actions
from .bench import MANGA_QUERY
from .models import QueryJob

DEMO_JOBS = [
    ("bright_stars", "SELECT TOP 5000 source_id, ra, dec, phot_g_mean_mag, parallax\nFROM gaia.source\n"
                     "WHERE phot_g_mean_mag < 15\nORDER BY phot_g_mean_mag"),
    ("halpha_galaxies", MANGA_QUERY.replace(" FROM", "\nFROM").replace(" WHERE", "\nWHERE").replace(" GROUP", "\nGROUP")
                                   .replace(" HAVING", "\nHAVING")),
    ("near_galactic_centre", "SELECT source_id, ra, dec, phot_g_mean_mag\nFROM gaia.source\n"
                             "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 266.4, -28.9, 2))"),
]


def load_demo(stdout: Any, size: str = "small") -> None:
    alice = User.objects.filter(username="alice").first()
    if alice is None or QueryJob.objects.filter(owner=alice).exists():
        return
    for name, query in DEMO_JOBS:
        job = actions.do_run_job(actions.do_create_job(alice, query=query, table_name=name))
        stdout.write(f"demo query job {name}: {job.phase}{' - ' + job.error if job.error else ''}")
