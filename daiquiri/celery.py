"""The Celery application: settings come from Django's (CELERY_* names).

Every module directly inside ``workers/`` is a task module and is imported by
the worker; engines live in ``workers/engines/`` and are imported by tasks.
"""

import os
import pkgutil
from pathlib import Path

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daiquiri.settings")

_WORKERS_DIR = Path(__file__).resolve().parent.parent / "workers"

app = Celery("daiquiri")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.imports = [f"workers.{m.name}" for m in pkgutil.iter_modules([str(_WORKERS_DIR)]) if not m.ispkg]


@worker_init.connect
def _check_configuration(**kwargs: object) -> None:
    from apps.core.checks import refuse_to_start_if_misconfigured

    refuse_to_start_if_misconfigured()
