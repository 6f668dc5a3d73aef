"""Web and worker processes load the sky libraries at start, not on their first positional query."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys, time
import django
django.setup()
before = [m for m in ("mocpy", "astropy.units") if m in sys.modules]
from apps.core.warmup import preload_sky_libraries
from apps.adql.pruning import Cone, _cone_moc
t0 = time.perf_counter(); preload_sky_libraries(); t1 = time.perf_counter()
_cone_moc(Cone(10.0, 20.0, 0.5)); t2 = time.perf_counter()
print(json.dumps({"before": before, "after": [m for m in ("mocpy", "astropy.units") if m in sys.modules],
                  "preload": t1 - t0, "first_cone": t2 - t1}))
"""


# What the first cone would pay without any preload: the libraries' import and first use in a bare interpreter.
COLD = """
import time
t0 = time.perf_counter()
from apps.core.warmup import preload_sky_libraries
preload_sky_libraries()
print(time.perf_counter() - t0)
"""


def _run(code: str) -> str:
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=os.environ.copy(), capture_output=True, text=True,
                         check=True, timeout=120)
    return out.stdout.strip().splitlines()[-1]


def test_after_the_preload_the_first_cone_costs_a_small_part_of_the_imports() -> None:
    found = json.loads(_run(PROBE))
    cold = float(_run(COLD))
    assert found["after"] == ["mocpy", "astropy.units"]
    # (Django's set-up may already have loaded them: then the preload is cheap and the cone cheaper still.)
    assert found["first_cone"] < 0.2 * cold, {**found, "cold": cold}


def test_the_web_and_worker_entry_points_preload() -> None:
    root = Path(__file__).resolve().parents[2]
    for entry in ("daiquiri/asgi.py", "daiquiri/celery.py"):
        assert "preload_sky_libraries()" in (root / entry).read_text()
