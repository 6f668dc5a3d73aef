"""Query queues from settings.QUERY_QUEUES, and who may submit to them.

Each queue is an access.Resource of type "queue" (action "submit"), given to the
built-in group named by the queue's "who"; managers can grant it to more users or
groups with the access app like any resource. The rows are written after each
migration (``do_create_queue_resources``), never by a read: until a queue has its
row (a queue added to the settings since), its "who" alone says who may submit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, transaction

from apps.access.actions import builtin_group, do_create_resource, do_grant
from apps.access.models import Group, Resource
from apps.access.permissions import allowed_resources, has_privilege
from workers.engines.limits import Limits

RESOURCE_TYPE = "queue"
SUBMIT = "submit"
_WHO = {"anyone": Group.KIND_ANYONE, "public": Group.KIND_PUBLIC}


class QueueError(Exception):
    """A queue that does not exist or that this user may not use."""


@dataclass(frozen=True)
class Queue:
    name: str
    label: str
    time_limit: int  # seconds, enforced by the engine
    row_limit: int | None
    concurrency: int  # jobs per user executing at once
    who: str
    limits: dict[str, Any] = field(default_factory=dict, compare=False)  # over settings.ENGINE_LIMITS

    def timeout_for(self, execution_duration: int) -> int:
        """The UWS executionduration may shorten the queue's limit, never lengthen it."""
        if execution_duration and execution_duration > 0:
            return min(execution_duration, self.time_limit)
        return self.time_limit


def all_queues() -> list[Queue]:
    return [
        Queue(name, q.get("label", name), int(q["time_limit"]), q.get("row_limit"), int(q.get("concurrency", 1)), q.get("who", ""),
              dict(q.get("limits") or {}))
        for name, q in settings.QUERY_QUEUES.items()
    ]


def get_queue(name: str | None) -> Queue:
    name = name or settings.QUERY_DEFAULT_QUEUE
    for queue in all_queues():
        if queue.name == name:
            return queue
    raise QueueError(f"There is no queue called {name!r}; the queues are {', '.join(q.name for q in all_queues())}.")


def engine_limits(queue: Queue | None, *, web: bool = False) -> Limits:
    """What an engine may take running this queue's jobs: settings.ENGINE_LIMITS, then the queue's own
    ``limits``, then (``web``: a synchronous query streamed by the web process) ENGINE_WEB_LIMITS:
    its memory limit, and never more threads than it says."""

    merged = {**settings.ENGINE_LIMITS, **(queue.limits if queue is not None else {})}
    if web:
        web_limits = settings.ENGINE_WEB_LIMITS
        merged["threads"] = min(int(merged.get("threads") or web_limits["threads"]), int(web_limits["threads"]))
        merged["memory_limit"] = web_limits["memory_limit"] or merged.get("memory_limit", "")
    return Limits(**merged)


def queue_or_default(name: str | None) -> Queue:
    """The queue a stored job names, or the default queue if that one has left the settings since:
    for showing the job's limits only. Running the job checks its queue again (and fails readably)."""
    try:
        return get_queue(name)
    except QueueError:
        return get_queue(None)


def do_create_queue_resources(**_signal: Any) -> None:
    """The Resource of every configured queue, with its default grant (post_migrate; idempotent)."""
    for queue in all_queues():
        if Resource.objects.filter(type=RESOURCE_TYPE, name=queue.name).exists():
            continue
        try:
            with transaction.atomic():
                resource = do_create_resource(RESOURCE_TYPE, queue.name)
                if queue.who in _WHO:
                    do_grant(None, resource, SUBMIT, group=builtin_group(_WHO[queue.who]))
        except IntegrityError:  # created concurrently
            pass


def _default_allows(user: User | AnonymousUser, queue: Queue) -> bool:
    """Who may submit to a queue that has no Resource yet: what its default grant would say."""
    if user.is_authenticated and user.is_superuser:
        return True
    return queue.who == "anyone" or (queue.who == "public" and user.is_authenticated)


def may_submit(user: User | AnonymousUser | None, queue: Queue) -> bool:
    user = user or AnonymousUser()
    resource = Resource.objects.filter(type=RESOURCE_TYPE, name=queue.name).first()
    if resource is None:
        return _default_allows(user, queue)
    return has_privilege(user, SUBMIT, resource)


def queues_for(user: User | AnonymousUser | None) -> list[Queue]:
    """The queues ``user`` may submit to (reads only: two queries whatever the number of queues)."""
    user = user or AnonymousUser()
    queues = all_queues()
    stored = set(Resource.objects.filter(type=RESOURCE_TYPE, name__in=[q.name for q in queues]).values_list("name", flat=True))
    allowed = set(allowed_resources(user, SUBMIT, RESOURCE_TYPE).values_list("name", flat=True))
    return [q for q in queues if q.name in allowed or (q.name not in stored and _default_allows(user, q))]


def check_queue(user: User | AnonymousUser | None, name: str | None) -> Queue:
    queue = get_queue(name)
    if not may_submit(user, queue):
        raise QueueError(f"You may not use the {queue.name} queue.")
    return queue
