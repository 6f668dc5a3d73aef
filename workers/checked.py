"""The base class of every task: a worker runs only tasks queued by a web process with its own configuration.

The web process stamps each task message with its configuration fingerprint
(apps/core/fingerprint.py); a worker whose fingerprint differs (an old worker
left running after the settings changed, one pointed at another database)
puts the task back for a matching worker instead of running it against the
wrong data, and says why in its log. Its heartbeat carries its own
fingerprint, so availability tells the operator such a worker is running.
Messages without a stamp (eager tasks, the periodic tasks a worker runs in place) run as before.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery.exceptions import Reject

from apps.core.fingerprint import configuration_fingerprint

log = logging.getLogger(__name__)
BACK_OFF_S = 1.0  # leave the requeued task to a matching worker for a moment


def sent_fingerprint(request: Any) -> str | None:
    headers = getattr(request, "headers", None) or {}
    return headers.get("daiquiri_configuration") or getattr(request, "daiquiri_configuration", None)


class CheckedTask(Task):  # type: ignore[misc]
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        sent = sent_fingerprint(self.request)
        mine = configuration_fingerprint()
        if sent and sent != mine and not self.request.is_eager:
            log.error("refused task %s (%s): it was queued by a web process with another configuration (%s, this worker %s); "
                      "restart this worker with the web process's settings", self.name, self.request.id, sent, mine)
            time.sleep(BACK_OFF_S)
            raise Reject(f"configuration {mine} differs from the sender's {sent}", requeue=True)
        return super().__call__(*args, **kwargs)
