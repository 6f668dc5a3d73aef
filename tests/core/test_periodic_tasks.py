"""Periodic work: one schedule (settings.PERIODIC_TASKS), run by every worker in one thread (daiquiri/celery.py)."""

from __future__ import annotations

import itertools
import threading
import time

from django.conf import settings

from daiquiri.celery import app, run_periodic


def test_each_periodic_task_runs_at_start_then_at_its_interval_and_a_failing_one_stops_nothing() -> None:
    runs: list[tuple[str, float]] = []
    stop = threading.Event()
    started = time.monotonic()

    def run(name: str) -> None:
        runs.append((name, time.monotonic() - started))
        if name == "broken":
            raise RuntimeError("this run fails")

    thread = threading.Thread(target=run_periodic, args=({"often": 0.1, "rarely": 60.0, "broken": 0.1}, stop, run))
    thread.start()
    time.sleep(0.55)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()  # stopping ends the schedule at once, not after the longest interval
    often = [t for name, t in runs if name == "often"]
    assert [name for name, _ in runs[:3]] == ["often", "rarely", "broken"]  # each once as the worker starts
    assert 3 <= len(often) <= 7 and all(b - a >= 0.09 for a, b in itertools.pairwise(often))
    assert len([n for n, _ in runs if n == "rarely"]) == 1
    assert len([n for n, _ in runs if n == "broken"]) >= 3  # its failures did not stop it or the others


def test_the_schedule_names_registered_tasks_and_no_beat_schedule_is_left() -> None:
    app.loader.import_default_modules()
    assert set(settings.PERIODIC_TASKS) <= set(app.tasks)
    assert {"workers.query.reap_jobs", "workers.compute.reap_jobs", "workers.query.clean_scratch"} <= set(settings.PERIODIC_TASKS)
    assert not getattr(settings, "CELERY_BEAT_SCHEDULE", None)  # one way only: a beat process would find nothing to run
