"""The base class of every task: a worker runs only tasks queued by a web process with its own configuration.

The web process stamps each task message with its configuration fingerprint
(apps/core/fingerprint.py); a worker whose fingerprint differs (an old worker
left running after the settings changed, one pointed at another database)
puts the task back for a matching worker instead of running it against the
wrong data, and says why in its log. A task put back for REFUSED_FOR_S since it was
queued is dropped: no worker with its configuration has taken it, and put back for
ever it would keep taking a pool process for a second at every pass (the query reaper
sends a job whose task is lost again, under the configuration of the worker running
the reaper). Its heartbeat carries its own
fingerprint, so availability tells the operator such a worker is running.
Messages without a stamp (eager tasks, the periodic tasks a worker runs in place) run as before.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery.exceptions import Reject

from apps.core.fingerprint import HEADER, SENT_AT, configuration_fingerprint

log = logging.getLogger(__name__)
BACK_OFF_S = 1.0  # leave the requeued task to a matching worker for a moment
REFUSED_FOR_S = 60.0  # then drop it: a worker with its configuration would have taken it by now


def sent_fingerprint(request: Any) -> str | None:
    return _header(request, HEADER)


def waited_s(request: Any) -> float:
    """Seconds since the task was queued (0 when the message does not say, or says nonsense)."""
    try:
        return time.time() - float(_header(request, SENT_AT) or time.time())
    except (TypeError, ValueError):  # not a number: as unknown
        return 0.0


def _header(request: Any, name: str) -> Any:
    headers = getattr(request, "headers", None) or {}
    return headers.get(name) or getattr(request, name, None)


class CheckedTask(Task):  # type: ignore[misc]
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        sent = sent_fingerprint(self.request)
        mine = configuration_fingerprint()
        if sent and sent != mine and not self.request.is_eager:
            waited = waited_s(self.request)
            if waited > REFUSED_FOR_S:
                log.error("dropped task %s (%s): queued %.0f s ago by a web process with another configuration (%s, this "
                          "worker %s), and no worker with that configuration took it", self.name, self.request.id, waited, sent, mine)
                raise Reject(f"no worker has the sender's configuration {sent}", requeue=False)
            log.error("refused task %s (%s): it was queued by a web process with another configuration (%s, this worker %s); "
                      "restart this worker with the web process's settings", self.name, self.request.id, sent, mine)
            time.sleep(BACK_OFF_S)
            raise Reject(f"configuration {mine} differs from the sender's {sent}", requeue=True)
        return super().__call__(*args, **kwargs)
