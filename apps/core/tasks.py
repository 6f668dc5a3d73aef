"""How apps hand work to workers: by task name, never by importing a task module.

Task modules (``workers/*.py``) import the apps' actions to do their work; if apps imported the
task modules back, the two would import each other in a loop. Instead an app names the task.
``send_task`` still honours CELERY_TASK_ALWAYS_EAGER (tests, and the eager development mode): it
resolves the name through the Celery app's registry, loading the task modules by name the first
time, so an eager task runs in place and a real one goes to the broker.
"""

from __future__ import annotations

from typing import Any

from celery import current_app


def send_task(name: str, *args: Any) -> None:
    """Queue the task called ``name`` (e.g. "workers.query.run_query") with ``args``. Callers that
    act inside a transaction wrap this in ``transaction.on_commit``, so a worker never sees a row
    that is not committed yet."""
    if name not in current_app.tasks:
        current_app.loader.import_default_modules()  # settings: CELERY imports = every workers/ module
    current_app.tasks[name].delay(*args)
