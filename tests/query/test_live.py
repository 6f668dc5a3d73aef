"""Live job status over the WebSocket, without Redis (the consumer polls the database)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from apps.query.consumers import JobStatusConsumer
from apps.query.models import QueryJob
from apps.uws import phases


@pytest.mark.django_db(transaction=True)
def test_it_pushes_phase_changes_of_the_users_jobs(users: Any, settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    job = QueryJob.objects.create(owner=users.owner, query="SELECT 1", phase=phases.QUEUED)
    other = QueryJob.objects.create(owner=users.outsider, query="SELECT 2", phase=phases.QUEUED)

    async def scenario() -> list[dict[str, Any]]:
        communicator = WebsocketCommunicator(JobStatusConsumer.as_asgi(), "/ws/query/jobs/")
        communicator.scope["user"] = users.owner
        connected, _ = await communicator.connect()
        assert connected
        seen = [await communicator.receive_json_from(timeout=5)]
        await sync_to_async(QueryJob.objects.filter(pk=job.pk).update)(phase=phases.COMPLETED, row_count=3, end_time=timezone.now())
        await sync_to_async(QueryJob.objects.filter(pk=other.pk).update)(phase=phases.COMPLETED)
        seen.append(await communicator.receive_json_from(timeout=5))
        assert await communicator.receive_nothing(timeout=1.5)
        await communicator.disconnect()
        return seen

    seen = asyncio.run(scenario())
    assert [s["phase"] for s in seen] == [phases.QUEUED, phases.COMPLETED]
    assert all(s["id"] == str(job.id) for s in seen) and seen[1]["row_count"] == 3


@pytest.mark.django_db(transaction=True)
def test_anonymous_visitors_only_watch_a_job_by_id(users: Any) -> None:
    job = QueryJob.objects.create(owner=None, query="SELECT 1", phase=phases.EXECUTING)

    async def scenario() -> tuple[bool, dict[str, Any] | None]:
        lister = WebsocketCommunicator(JobStatusConsumer.as_asgi(), "/ws/query/jobs/")
        lister.scope["user"] = users.anonymous
        refused, _ = await lister.connect()
        watcher = WebsocketCommunicator(JobStatusConsumer.as_asgi(), f"/ws/query/jobs/?job={job.id}")
        watcher.scope["user"] = users.anonymous
        await watcher.connect()
        status = await watcher.receive_json_from(timeout=5)
        await watcher.disconnect()
        return refused, status

    refused, status = asyncio.run(scenario())
    assert not refused and status is not None and status["phase"] == phases.EXECUTING


@pytest.mark.django_db(transaction=True)
def test_with_redis_workers_push_to_the_owners_pages(users: Any, settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": ["redis://127.0.0.1:6379/11"], "prefix": "query-test"}}}
    from apps.query import live

    job = QueryJob.objects.create(owner=users.owner, query="SELECT 1", phase=phases.EXECUTING)

    async def scenario() -> dict[str, Any]:
        communicator = WebsocketCommunicator(JobStatusConsumer.as_asgi(), "/ws/query/jobs/")
        communicator.scope["user"] = users.owner
        assert (await communicator.connect())[0]
        await communicator.receive_json_from(timeout=5)  # the first look
        job.phase, job.row_count = phases.COMPLETED, 42
        await sync_to_async(live.notify)(job)  # what a worker does after finishing (no database change needed)
        pushed = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return pushed

    assert live.cross_process()
    pushed = asyncio.run(scenario())
    assert pushed["phase"] == phases.COMPLETED and pushed["row_count"] == 42
