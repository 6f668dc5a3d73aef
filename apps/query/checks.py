"""System checks of the query settings (ids daiquiri.Q0xx)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error

from .queues import all_queues, engine_limits


def check_queues(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    queues = getattr(settings, "QUERY_QUEUES", {})
    if not queues:
        return [Error("QUERY_QUEUES defines no queue.", id="daiquiri.Q001")]
    if settings.QUERY_DEFAULT_QUEUE not in queues:
        errors.append(Error(f"QUERY_DEFAULT_QUEUE {settings.QUERY_DEFAULT_QUEUE!r} is not in QUERY_QUEUES.", id="daiquiri.Q002"))
    for name, queue in queues.items():
        if int(queue.get("time_limit", 0)) <= 0 or int(queue.get("concurrency", 1)) <= 0:
            errors.append(Error(f"Queue {name!r} needs a positive time_limit and concurrency.", id="daiquiri.Q003"))
        if queue.get("who", "") not in ("", "anyone", "public"):
            errors.append(Error(f"Queue {name!r}: 'who' must be 'anyone', 'public' or ''.", id="daiquiri.Q004"))
    return errors + _check_limits()


def _check_limits() -> list[CheckMessage]:
    """ENGINE_LIMITS, ENGINE_WEB_LIMITS and each queue's limits must make valid engine limits."""
    errors: list[CheckMessage] = []
    for queue in all_queues():
        for web in (False, True):
            try:
                engine_limits(queue, web=web)
            except (TypeError, ValueError) as exc:
                errors.append(Error(f"Engine limits of queue {queue.name!r}{' (web process)' if web else ''}: {exc}",
                                    hint="See ENGINE_LIMITS in daiquiri/settings.py.", id="daiquiri.Q005"))
    return errors
