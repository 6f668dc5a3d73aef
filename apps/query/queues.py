"""Query queues from settings.QUERY_QUEUES, and who may submit to them.

Each queue is an access.Resource of type "queue" (action "submit"), created on
first use and given to the built-in group named by the queue's "who"; managers
can grant it to more users or groups with the access app like any resource.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, transaction

from apps.access.actions import builtin_group, do_create_resource, do_grant
from apps.access.models import Group, Resource
from apps.access.permissions import allowed_resources, has_privilege

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

    def timeout_for(self, execution_duration: int) -> int:
        """The UWS executionduration may shorten the queue's limit, never lengthen it."""
        if execution_duration and execution_duration > 0:
            return min(execution_duration, self.time_limit)
        return self.time_limit


def all_queues() -> list[Queue]:
    return [
        Queue(name, q.get("label", name), int(q["time_limit"]), q.get("row_limit"), int(q.get("concurrency", 1)), q.get("who", ""))
        for name, q in settings.QUERY_QUEUES.items()
    ]


def get_queue(name: str | None) -> Queue:
    name = name or settings.QUERY_DEFAULT_QUEUE
    for queue in all_queues():
        if queue.name == name:
            return queue
    raise QueueError(f"There is no queue called {name!r}; the queues are {', '.join(q.name for q in all_queues())}.")


def queue_or_default(name: str | None) -> Queue:
    """The queue a stored job names, or the default queue if that one has left the settings since:
    for showing the job's limits only. Running the job checks its queue again (and fails readably)."""
    try:
        return get_queue(name)
    except QueueError:
        return get_queue(None)


def queue_resource(queue: Queue) -> Resource:
    """The queue's Resource, created (with its default grant) on first use."""
    existing = Resource.objects.filter(type=RESOURCE_TYPE, name=queue.name).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            resource = do_create_resource(RESOURCE_TYPE, queue.name)
            if queue.who in _WHO:
                do_grant(None, resource, SUBMIT, group=builtin_group(_WHO[queue.who]))
            return resource
    except IntegrityError:  # created concurrently
        return Resource.objects.get(type=RESOURCE_TYPE, name=queue.name)


def may_submit(user: User | AnonymousUser | None, queue: Queue) -> bool:
    return has_privilege(user or AnonymousUser(), SUBMIT, queue_resource(queue))


def queues_for(user: User | AnonymousUser | None) -> list[Queue]:
    queues = all_queues()
    for queue in queues:
        queue_resource(queue)
    allowed = set(allowed_resources(user or AnonymousUser(), SUBMIT, RESOURCE_TYPE).values_list("name", flat=True))
    return [q for q in queues if q.name in allowed]


def check_queue(user: User | AnonymousUser | None, name: str | None) -> Queue:
    queue = get_queue(name)
    if not may_submit(user, queue):
        raise QueueError(f"You may not use the {queue.name} queue.")
    return queue
