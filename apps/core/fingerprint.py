"""One short digest of the settings a worker must share with the web process that queues its tasks.

A worker started with another configuration (an old worker left running after
the settings changed, a worker pointed at another science database or
storage folder) would run jobs against the wrong data. So:

- every heartbeat carries the worker's fingerprint (workers/heartbeat.py), and
  the web side counts only workers whose fingerprint is its own
  (apps/core/workers.py): availability and the query pages say when a worker
  with another configuration is running and refused;
- every task message carries the sender's fingerprint in a header
  (``before_task_publish``, daiquiri/celery.py); a worker whose own differs puts
  the task back for a matching worker, for a minute; a task nobody took by then was
  queued by a configuration no worker has (say, before a restart with new settings) and
  is dropped (workers/checked.py).

Only a digest leaves the process: URLs and secrets in the inputs are never shown.
"""

from __future__ import annotations

import hashlib
import json
import time
from functools import cache
from typing import Any

from django.conf import settings

HEADER = "daiquiri_configuration"
SENT_AT = "daiquiri_sent_at"  # when it was queued (seconds since the epoch): how long a refused task has waited
# What decides where jobs read and write: the portal database, the broker, the science engines and storage.
SHARED_SETTINGS = ("CELERY_BROKER_URL", "SCIENCE_DIR", "MYDB_DIR", "SCIENCE_POSTGRESQL_URL", "SCIENCE_MARIADB_URL", "SPARK_REMOTE",
                   "DEFAULT_ENGINE", "VAR_DIR", "SECRET_KEY")


def _database() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    return {k: str(db.get(k, "")) for k in ("ENGINE", "NAME", "HOST", "PORT")}


@cache
def configuration_fingerprint() -> str:
    values = {name: str(getattr(settings, name, "")) for name in SHARED_SETTINGS}
    values["DATABASE"] = json.dumps(_database(), sort_keys=True)
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def stamp_task_message(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """``before_task_publish``: say which configuration queued this task, and when."""
    if headers is not None:
        headers[HEADER] = configuration_fingerprint()
        headers[SENT_AT] = time.time()
